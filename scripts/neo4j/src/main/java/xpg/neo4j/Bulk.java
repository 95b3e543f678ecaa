package xpg.neo4j;

import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.neo4j.graphdb.Entity;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.RelationshipType;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * Bulk writes for a load into an empty label or relationship type: the {@code bulk_*}
 * statements of {@code queries/cypher/load.cypher} call these instead of their
 * {@code create_*} form when the server has them (the throwaway server of
 * {@code scripts/neo4j-local} registers them; a self-hosted server gets them from this
 * jar in its {@code plugins/} folder). They write exactly what the {@code CREATE} form
 * writes, with the core API instead of the Cypher runtime, which on a small machine
 * spends most of a load's time evaluating rows.
 *
 * <p>A batch comes as columns: {@code columns} maps a property name to a list with one
 * value per row (all lists of one length); a null value leaves the property unset, as
 * {@code CREATE} does. {@code kinds} names the columns sent as ISO text that are stored
 * as temporal values ({@code date} or {@code localdatetime}). {@code constants} are set
 * on every entity. The procedures run inside the caller's transaction: a failure
 * (an element id not found, a bad value) fails the whole batch.
 */
public final class Bulk {

    @Context
    public Transaction tx;

    /** The element ids of the nodes written, in row order. */
    public static final class Nodes {
        public final List<String> ids;

        Nodes(List<String> ids) {
            this.ids = ids;
        }
    }

    /** The number of relationships written. */
    public static final class Count {
        public final long count;

        Count(long count) {
            this.count = count;
        }
    }

    @Procedure(name = "xpg.bulk.nodes", mode = Mode.WRITE)
    @Description("xpg.bulk.nodes(label, columns, kinds, constants) :: (ids): one node per row")
    public Stream<Nodes> nodes(
            @Name("label") String label,
            @Name("columns") Map<String, Object> columns,
            @Name(value = "kinds", defaultValue = "{}") Map<String, Object> kinds,
            @Name(value = "constants", defaultValue = "{}") Map<String, Object> constants) {
        if (columns.isEmpty()) {
            throw new IllegalArgumentException("xpg.bulk.nodes: no columns, so no row count");
        }
        Columns cols = new Columns(columns, kinds, constants);
        Label l = Label.label(label);
        List<String> ids = new ArrayList<>(cols.rows);
        for (int k = 0; k < cols.rows; k++) {
            Node n = tx.createNode(l);
            cols.set(n, k);
            ids.add(n.getElementId());
        }
        return Stream.of(new Nodes(ids));
    }

    @Procedure(name = "xpg.bulk.relationships", mode = Mode.WRITE)
    @Description("xpg.bulk.relationships(type, start, end, columns, kinds, constants) :: (count):"
            + " one relationship per row, from the node of element id start[k] to end[k]")
    public Stream<Count> relationships(
            @Name("type") String type,
            @Name("start") List<String> start,
            @Name("end") List<String> end,
            @Name(value = "columns", defaultValue = "{}") Map<String, Object> columns,
            @Name(value = "kinds", defaultValue = "{}") Map<String, Object> kinds,
            @Name(value = "constants", defaultValue = "{}") Map<String, Object> constants) {
        if (start.size() != end.size()) {
            throw new IllegalArgumentException("xpg.bulk.relationships: " + start.size()
                    + " start nodes but " + end.size() + " end nodes");
        }
        Columns cols = new Columns(columns, kinds, constants);
        if (!columns.isEmpty() && cols.rows != start.size()) {
            throw new IllegalArgumentException("xpg.bulk.relationships: " + start.size()
                    + " rows but columns of " + cols.rows);
        }
        RelationshipType t = RelationshipType.withName(type);
        for (int k = 0; k < start.size(); k++) {
            Node a = tx.getNodeByElementId(start.get(k));
            Node b = tx.getNodeByElementId(end.get(k));
            cols.set(a.createRelationshipTo(b, t), k);
        }
        return Stream.of(new Count(start.size()));
    }

    /**
     * {@code yyyy-MM-dd}, as the loader sends dates; the general ISO parser (several times
     * slower, a large share of a load's time) for anything else.
     */
    static LocalDate date(String text) {
        if (text.length() == 10 && text.charAt(4) == '-' && text.charAt(7) == '-') {
            int y = digits(text, 0, 4);
            int m = digits(text, 5, 7);
            int d = digits(text, 8, 10);
            if (y >= 0 && m >= 0 && d >= 0) {
                return LocalDate.of(y, m, d);
            }
        }
        return LocalDate.parse(text);
    }

    /**
     * {@code yyyy-MM-ddTHH:mm:ss.SSSSSS}, as the loader sends datetimes; the general ISO
     * parser for anything else.
     */
    static LocalDateTime localDateTime(String text) {
        if (text.length() == 26 && text.charAt(10) == 'T' && text.charAt(13) == ':'
                && text.charAt(16) == ':' && text.charAt(19) == '.') {
            int h = digits(text, 11, 13);
            int min = digits(text, 14, 16);
            int sec = digits(text, 17, 19);
            int micros = digits(text, 20, 26);
            if (h >= 0 && min >= 0 && sec >= 0 && micros >= 0) {
                return LocalDateTime.of(date(text.substring(0, 10)),
                        java.time.LocalTime.of(h, min, sec, micros * 1000));
            }
        }
        return LocalDateTime.parse(text);
    }

    /** The number written in {@code text[from, to)}, or -1 when it is not all digits. */
    private static int digits(String text, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            n = n * 10 + (c - '0');
        }
        return n;
    }

    /** A batch's columns, checked once, set row by row. */
    private static final class Columns {
        final int rows;
        final String[] names;
        final List<?>[] values;
        final char[] kind; // 'd' date, 't' localdatetime, 'v' as sent
        final Map<String, Object> constants;

        Columns(Map<String, Object> columns, Map<String, Object> kinds,
                Map<String, Object> constants) {
            int n = columns.size();
            names = new String[n];
            values = new List<?>[n];
            kind = new char[n];
            int rowCount = -1;
            int i = 0;
            for (Map.Entry<String, Object> e : columns.entrySet()) {
                if (!(e.getValue() instanceof List<?> list)) {
                    throw new IllegalArgumentException("column " + e.getKey() + " is not a list");
                }
                if (rowCount >= 0 && list.size() != rowCount) {
                    throw new IllegalArgumentException("column " + e.getKey() + " has "
                            + list.size() + " values, the others " + rowCount);
                }
                rowCount = list.size();
                names[i] = e.getKey();
                values[i] = list;
                Object k = kinds.get(e.getKey());
                if (k == null) {
                    kind[i] = 'v';
                } else if ("date".equals(k)) {
                    kind[i] = 'd';
                } else if ("localdatetime".equals(k)) {
                    kind[i] = 't';
                } else {
                    throw new IllegalArgumentException("kind of " + e.getKey() + ": " + k
                            + " (date or localdatetime)");
                }
                i++;
            }
            for (String k : kinds.keySet()) {
                if (!columns.containsKey(k)) {
                    throw new IllegalArgumentException("kind given for no column: " + k);
                }
            }
            rows = Math.max(rowCount, 0);
            this.constants = constants;
        }

        void set(Entity entity, int row) {
            for (int i = 0; i < names.length; i++) {
                Object v = values[i].get(row);
                if (v == null) {
                    continue;
                }
                switch (kind[i]) {
                    case 'd' -> v = date((String) v);
                    case 't' -> v = localDateTime((String) v);
                    default -> { }
                }
                entity.setProperty(names[i], v);
            }
            for (Map.Entry<String, Object> e : constants.entrySet()) {
                if (e.getValue() != null) {
                    entity.setProperty(e.getKey(), e.getValue());
                }
            }
        }
    }
}
