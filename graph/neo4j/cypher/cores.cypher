// name: ring_core_links
// Multi-lending cores of large connected groups (data contract v2: large groups), read-only:
// the kept links of the searched users, the one read the ring rule needs for its cores
// (form ring_core_links). The cores themselves are computed from these rows in numpy
// (xpg.linkgraph.cores.link_cores), on every backend: O(links), no path search in the database.
//
// A connected group of more than max_group_users users is not judged whole: its
// multi_lending members are grouped by the kept devices and identifiers that two of them
// share. A node is kept when it is a device or an identifier of an enabled kind ($kinds)
// linked, as of the run date, to at most $hub_max_users users IN ALL (multi-lenders or
// not: a hub is judged by all its users). Only the nodes linked to two or more searched
// users are returned (the others join nobody).
//
// Parameters:
//   $user_ids       the multi_lending users of the groups of more than max_group_users
//                   users (xpg.linkgraph.cores.searched_members: its user_id column)
//   $until          the day after the run date at 00:00 (a link counts when its
//                   first_seen is null or < $until)
//   $kinds          the enabled identifier kinds (devices always count)
//   $hub_max_users  a node of more users than this is a hub and links nobody
UNWIND $user_ids AS id
MATCH (a:User {user_id: id})-[x:USED|HAS_IDENTIFIER]->(n)
WHERE (x.first_seen IS NULL OR x.first_seen < $until) AND (n:Device OR n.kind IN $kinds)
WITH n, collect(DISTINCT id) AS searched
WHERE size(searched) >= 2 AND COUNT {
  (n)<-[z:USED|HAS_IDENTIFIER]-(:User) WHERE z.first_seen IS NULL OR z.first_seen < $until
} <= $hub_max_users
UNWIND searched AS user_id
RETURN CASE WHEN n:Device THEN 'device' ELSE n.kind END AS kind,
       CASE WHEN n:Device THEN n.device_id ELSE n.value END AS value,
       user_id
