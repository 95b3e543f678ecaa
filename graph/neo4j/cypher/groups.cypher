// The connected groups of the last detection, stored so that `xpg query group` reads a
// group's summary in one read (graph/neo4j/groups.py). A detection replaces them all:
// clear_groups_run first (readers then search breadth-first until the end), write_groups and
// write_group_members in batches (one write transaction each, stamped with the write's
// $stamp), delete_stale_groups (every node of another stamp), and write_groups_run last,
// which records what they were computed for.

// name: clear_groups_run
MATCH (run:XpgGroupsRun)
DELETE run

// name: write_groups
// $rows: {group, members (sorted user ids), hubs (JSON), total, ...}.
UNWIND $rows AS r
MERGE (g:XpgGroup {group: r.group})
SET g.members = r.members, g.users = size(r.members), g.hubs = r.hubs,
    g.total = r.total, g.internal_limit = r.internal_limit,
    g.internal_outstanding = r.internal_outstanding, g.drawable = r.drawable,
    g.external_outstanding = r.external_outstanding, g.stamp = $stamp

// name: write_group_members
// $rows: {user_id, group}.
UNWIND $rows AS r
MERGE (m:XpgGroupMember {user_id: r.user_id})
SET m.group = r.group, m.stamp = $stamp

// name: delete_stale_groups
// What an earlier write left (users on no kept link now, groups merged or split).
MATCH (n) WHERE (n:XpgGroup OR n:XpgGroupMember) AND n.stamp <> $stamp
CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF $batch ROWS

// name: write_groups_run
// The run date and link settings the groups were computed for, and the load they were
// computed on.
MATCH (meta:XpgMeta {name: 'graph'})
MERGE (run:XpgGroupsRun {name: 'groups'})
SET run.as_of = $as_of, run.kinds = $kinds, run.hub_max = $hub_max, run.load = meta.load,
    run.groups = $groups, run.written_at = $now

// name: read_group
// The stored run (null when none, or when computed on another load than the last
// complete one) and the user's group (null when the user is on no kept link).
OPTIONAL MATCH (meta:XpgMeta {name: 'graph'}) WHERE meta.state = 'complete'
OPTIONAL MATCH (run:XpgGroupsRun {name: 'groups'}) WHERE run.load = meta.load
OPTIONAL MATCH (m:XpgGroupMember {user_id: $user_id})
OPTIONAL MATCH (g:XpgGroup {group: m.group})
RETURN run {.as_of, .kinds, .hub_max} AS run, properties(g) AS g
