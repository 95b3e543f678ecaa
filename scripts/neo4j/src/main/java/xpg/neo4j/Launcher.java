package xpg.neo4j;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * A throwaway Neo4j Community DBMS with a Bolt connector on a loopback port.
 *
 * <p>Arguments: {@code --home DIR --port N [--password-file FILE] [--pagecache SIZE]
 * [--watch-pid PID] [--cleanup DIR] [--conf FILE]}. The password is read from a file (never from
 * the command line, which other users of the machine can read), set for the {@code neo4j} user
 * with no forced change, and the file is deleted; without one (a restart on the same
 * {@code --home}) the user keeps its password. {@code --conf} reads more settings from a
 * properties file (the GDS plugin's). When the DBMS answers, the launcher prints {@code READY} on stdout.
 * It stops cleanly on SIGTERM/SIGINT, and by itself when the process {@code --watch-pid}
 * (the test runner that started it) is gone, so a killed test session leaves no JVM behind;
 * {@code --cleanup DIR} (the temporary data folder) is deleted once the DBMS has stopped, unless
 * it holds a file {@code keep} (the server is stopped for an offline import and restarted).
 */
public final class Launcher {

    private Launcher() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        Path home = Path.of(require(opts, "home")).toAbsolutePath();
        int port = Integer.parseInt(require(opts, "port"));
        // no --password-file: a restart on the data folder of an earlier run, whose neo4j
        // user keeps the password it was given then
        String password = null;
        if (opts.containsKey("password-file")) {
            Path passwordFile = Path.of(opts.get("password-file"));
            password = Files.readString(passwordFile, StandardCharsets.UTF_8).strip();
            Files.deleteIfExists(passwordFile);
        }
        String pagecache = opts.getOrDefault("pagecache", "512m");

        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(HttpConnector.enabled, false)
                // a throwaway server: do not linger 2 x 5 s on Bolt shutdown
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time,
                        Duration.ofMillis(500))
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time,
                        Duration.ofMillis(500))
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory,
                        org.neo4j.io.ByteUnit.parse(pagecache));
        String conf = opts.get("conf");
        if (conf != null) {
            builder.loadPropertiesFromFile(Path.of(conf));
        }
        DatabaseManagementService dbms = builder.build();

        CountDownLatch stopped = new CountDownLatch(1);
        String cleanup = opts.get("cleanup");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            dbms.shutdown();
            // a `keep` file in it: stopped for an offline import, restarted afterwards
            if (cleanup != null && !Files.exists(Path.of(cleanup, "keep"))) {
                deleteTree(Path.of(cleanup));
            }
            stopped.countDown();
        }, "xpg-neo4j-shutdown"));

        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        if (password != null) {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        }

        System.out.println("READY");
        System.out.flush();

        String watch = opts.get("watch-pid");
        if (watch != null) {
            Optional<ProcessHandle> parent = ProcessHandle.of(Long.parseLong(watch));
            if (parent.isEmpty()) {
                System.exit(0);
            }
            parent.get().onExit().thenRun(() -> System.exit(0));
        }
        stopped.await();
    }

    private static void deleteTree(Path root) {
        try (var paths = Files.walk(root)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("could not delete " + root + ": " + e);
        }
    }

    private static Map<String, String> parse(String[] args) throws IOException {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("bad argument: " + args[i]);
            }
            out.put(args[i].substring(2), args[++i]);
        }
        return out;
    }

    private static String require(Map<String, String> opts, String name) {
        String v = opts.get(name);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + name);
        }
        return v;
    }
}
