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
import java.util.concurrent.atomic.AtomicReference;

import org.neo4j.cli.AdminTool;
import org.neo4j.cli.ExecutionContext;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.fs.DefaultFileSystemAbstraction;

/**
 * A throwaway Neo4j Community DBMS with a Bolt connector on a loopback port.
 *
 * <p>Arguments: {@code --home DIR --port N [--password-file FILE] [--pagecache SIZE]
 * [--watch-pid PID] [--cleanup DIR] [--conf FILE] [--control DIR]}. The password is read from a file (never from
 * the command line, which other users of the machine can read), set for the {@code neo4j} user
 * with no forced change, and the file is deleted; without one (a restart on the same
 * {@code --home}) the user keeps its password. {@code --conf} reads more settings from a
 * properties file (the GDS plugin's). When the DBMS answers, the launcher prints {@code READY} on stdout.
 * It stops cleanly on SIGTERM/SIGINT, and by itself when the process {@code --watch-pid}
 * (the test runner that started it) is gone, so a killed test session leaves no JVM behind;
 * {@code --cleanup DIR} (the temporary data folder) is deleted once the DBMS has stopped, unless
 * it holds a file {@code keep} (the server is stopped for an offline import and restarted).
 *
 * <p>{@code --control DIR}: the offline import runs in this JVM. When a file {@code import.args}
 * appears in {@code DIR} (the importer's arguments, one a line; written by
 * {@code scripts/neo4j-local import}), the launcher shuts the DBMS down, runs
 * {@code neo4j-admin database import full neo4j --overwrite-destination=true ARGS}
 * ({@link AdminTool#execute}) with its output in {@code DIR/import.log}, builds the DBMS again
 * on the same folder and port, and writes the importer's exit status to {@code DIR/import.rc}
 * once the DBMS answers again. That spares the two JVM starts (the importer's and the server's
 * again) a separate importer costs, each with its classes loaded and compiled anew.
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

        String conf = opts.get("conf");
        AtomicReference<DatabaseManagementService> current =
                new AtomicReference<>(build(home, port, pagecache, conf));

        CountDownLatch stopped = new CountDownLatch(1);
        String cleanup = opts.get("cleanup");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                current.get().shutdown();
            } catch (RuntimeException e) {
                System.err.println("shutdown: " + e);  // e.g. stopped during an import
            }
            // a `keep` file in it: stopped for an offline import, restarted afterwards
            if (cleanup != null && !Files.exists(Path.of(cleanup, "keep"))) {
                deleteTree(Path.of(cleanup));
            }
            stopped.countDown();
        }, "xpg-neo4j-shutdown"));

        GraphDatabaseService system = current.get().database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
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
        String control = opts.get("control");
        if (control != null) {
            Path dir = Path.of(control);
            Files.createDirectories(dir);
            while (stopped.getCount() > 0) {
                Path request = dir.resolve("import.args");
                if (Files.exists(request)) {
                    try {
                        importOffline(request, dir, home, current,
                                () -> build(home, port, pagecache, conf));
                    } catch (Exception e) {  // the script waiting on import.rc reports it
                        e.printStackTrace();
                        Files.writeString(dir.resolve("import.rc"), "error: " + e + "\n");
                        System.exit(1);
                    }
                }
                Thread.sleep(200);
            }
        }
        stopped.await();
    }

    private static DatabaseManagementService build(
            Path home, int port, String pagecache, String conf) throws IOException {
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
        if (conf != null) {
            builder.loadPropertiesFromFile(Path.of(conf));
        }
        return builder.build();
    }

    private interface Builder {
        DatabaseManagementService build() throws IOException;
    }

    /** Shut the DBMS down, import, build it again; the exit status goes to {@code import.rc}. */
    private static void importOffline(Path request, Path dir, Path home,
            AtomicReference<DatabaseManagementService> current, Builder again) throws IOException {
        Path running = dir.resolve("import.running");
        Files.move(request, running, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(
                "database", "import", "full", "neo4j", "--overwrite-destination=true"));
        for (String line : Files.readAllLines(running, StandardCharsets.UTF_8)) {
            if (!line.isEmpty()) {
                args.add(line);
            }
        }
        int rc;
        try (var out = new java.io.PrintStream(
                Files.newOutputStream(dir.resolve("import.log")), true, StandardCharsets.UTF_8)) {
            current.get().shutdown();
            try (var fs = new DefaultFileSystemAbstraction()) {
                ExecutionContext context =
                        new ExecutionContext(home, home.resolve("conf"), out, out, fs);
                rc = AdminTool.execute(context, args.toArray(new String[0]));
            } catch (RuntimeException e) {
                e.printStackTrace(out);
                rc = 1;
            }
        }
        current.set(again.build());  // a failure: import.rc says so, and the JVM exits
        Files.delete(running);
        Path rcTmp = dir.resolve("import.rc.tmp");
        Files.writeString(rcTmp, rc + "\n");
        Files.move(rcTmp, dir.resolve("import.rc"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
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
