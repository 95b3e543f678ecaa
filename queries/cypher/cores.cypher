// Multi-lending cores of large connected groups (data contract v2: large groups), read-only.
// xpg.graph.cores computes the same cores in memory; docs/detections.md gives the semantics.
//
// A connected group of more than max_group_users users is not judged whole: its
// multi_lending members are grouped by the kept devices and identifiers that two of them
// share. A node is kept when it is a device or an identifier of an enabled kind ($kinds)
// linked, as of the run date, to at most $hub_max_users users IN ALL (multi-lenders or
// not: a hub is judged by all its users).
//
// Parameters:
//   $user_ids       the multi_lending users of the groups of more than max_group_users
//                   users (xpg.graph.cores.searched_members: its user_id column)
//   $group_users    parallel to $user_ids: the size of each one's group (its group_users)
//   $until          the day after the run date at 00:00 (a link counts when its
//                   first_seen is null or < $until)
//   $kinds          the enabled identifier kinds (devices always count)
//   $hub_max_users  a node of more users than this is a hub and links nobody
//   $min_users      the fewest users of a core that is returned
//
// name: ring_cores
// One row per member of every core of at least $min_users users: group ('core:' + the
// core's smallest user_id, as xpg.graph.cores names it), user_id, group_users.
//
// How: (1) the shared nodes: kept nodes linked to two or more searched users; (2) the
// searched users that share no node with a searched user of a smaller user_id (every core
// has one: its smallest member) each start one breadth-first search (a quantified path
// pattern with the ANY selector: one path per reached user) over searched users and shared
// nodes; (3) each reached user's core is the smallest start that reached it, which is the
// core's smallest member. No writes.
// Cost: few database hits (about 1,000,000 for 3,727 searched users of a 100,000-user mixed
// graph with 30 planted cores, largest 323 users), but the ANY path search of Neo4j 5.26
// spends CPU per path it tracks: that run took 355 s on a loaded 2-core machine, against
// about 1 s with 4 planted cores. Fine for tests and small graphs; at scale prefer the
// scratch-label propagation of detect.cypher restricted to the searched users.
CALL () {
  UNWIND $user_ids AS id
  MATCH (a:User {user_id: id})-[x:USED|HAS_IDENTIFIER]->(n)
  WHERE (x.first_seen IS NULL OR x.first_seen < $until) AND (n:Device OR n.kind IN $kinds)
  WITH n, count(*) AS searched
  WHERE searched >= 2 AND COUNT {
    (n)<-[z:USED|HAS_IDENTIFIER]-(:User) WHERE z.first_seen IS NULL OR z.first_seen < $until
  } <= $hub_max_users
  RETURN collect(n) AS shared
}
UNWIND range(0, size($user_ids) - 1) AS k
MATCH (s:User {user_id: $user_ids[k]})
WHERE NOT EXISTS {
  MATCH (s)-[x:USED|HAS_IDENTIFIER]->(n)<-[y:USED|HAS_IDENTIFIER]-(b:User)
  WHERE n IN shared AND b.user_id IN $user_ids AND b.user_id < s.user_id
    AND (x.first_seen IS NULL OR x.first_seen < $until)
    AND (y.first_seen IS NULL OR y.first_seen < $until)
}
CALL (s, shared) {
  MATCH ANY (s) (
    (:User)-[x:USED|HAS_IDENTIFIER]->(n)<-[y:USED|HAS_IDENTIFIER]-(b:User)
    WHERE n IN shared AND b.user_id IN $user_ids
      AND (x.first_seen IS NULL OR x.first_seen < $until)
      AND (y.first_seen IS NULL OR y.first_seen < $until)
  )* (t)
  RETURN t
}
WITH t, min(s.user_id) AS root, min($group_users[k]) AS group_users
WITH root, group_users, collect(t.user_id) AS core
WHERE size(core) >= $min_users
UNWIND core AS user_id
RETURN 'core:' + root AS group, user_id, group_users
