// What the Neo4j backend computes for every rule: the user count, the exposure and the ring
// components (the step the ring forms "prepare"). Each rule's own statements are in the
// .cypher file beside its module (queries/rules/<rule>.cypher); docs/detections.md gives
// each frame's rows. Only the frames come back to Python; the rules assemble the findings.
//
// Common parameters:
//   $as_of        the run date (Date)
//   $until        the day after the run date at 00:00 (LocalDateTime): a datetime is
//                 "on or before the run date" when it is < $until
//   $open         the loan statuses that count as open: ['open', 'overdue']
// "As of" the run date: an account exists when it is not retired and has no opened_at
// or one on or before the run date; a loan counts when opened on or before it; an event,
// application or link when dated on or before it (a link with no first_seen always).

// name: user_count
MATCH (m:XpgMeta {name: 'graph'})
RETURN m.users AS users

// name: exposure
// Summed exactly in millionths of a yuan (integers: the same in any order), as
// xpg.queries.asof.micro does: floor(amount * 1000000 + 0.5); yuan again at the end.
UNWIND $user_ids AS user_id
MATCH (u:User {user_id: user_id})
CALL (u) {
  OPTIONAL MATCH (u)-[:HAS_ACCOUNT]->(a:Account)
  WHERE a.retired_at IS NULL AND (a.opened_at IS NULL OR a.opened_at <= $as_of)
  WITH a, toInteger(floor(a.credit_limit * 1000000.0 + 0.5)) AS lim,
       toInteger(floor(a.outstanding * 1000000.0 + 0.5)) AS owed
  RETURN
    sum(CASE WHEN a.status <> 'closed' THEN lim ELSE 0 END) AS internal_limit,
    sum(coalesce(owed, 0)) AS internal_outstanding,
    sum(CASE WHEN a.status = 'active' AND lim > owed THEN lim - owed ELSE 0 END) AS drawable
}
CALL (u) {
  OPTIONAL MATCH (u)-[x:BORROWED_FROM]->(:Lender)
  WHERE {{open_loan x}}
  RETURN sum(coalesce(toInteger(floor(x.outstanding * 1000000.0 + 0.5)), 0))
         AS external_outstanding
}
RETURN u.user_id AS user_id,
       toFloat(internal_limit) / 1000000.0 AS internal_limit,
       toFloat(internal_outstanding) / 1000000.0 AS internal_outstanding,
       toFloat(drawable) / 1000000.0 AS drawable,
       toFloat(external_outstanding) / 1000000.0 AS external_outstanding,
       toFloat(internal_outstanding + drawable + external_outstanding) / 1000000.0 AS total

// ---------------------------------------------------------------------------------
// Rings: connected groups of users over the kept device/identifier links, computed in
// the database by min-label propagation on the bipartite graph itself (never a
// user-to-user projection). Scratch labels XpgRingLink (kept link nodes) and
// XpgRingUser (users with a kept link) and the scratch properties _cc (the label: the
// smallest user_id reached so far) and _chg (the pass that last lowered it) live only
// for the duration of one detection (ring_cleanup).

// name: ring_cleanup
MATCH (n) WHERE n:XpgRingLink OR n:XpgRingUser
CALL (n) {
  REMOVE n:XpgRingLink, n:XpgRingUser, n._cc, n._chg
} IN TRANSACTIONS OF $batch ROWS

// name: ring_mark_devices
// A device is kept when 2..hub_max_users users were seen on it as of the run date
// (one user connects nothing; more than hub_max_users makes it a hub, left out).
MATCH (n:Device)
CALL (n) {
  MATCH (n)<-[x:USED]-(u:User)
  WHERE x.first_seen IS NULL OR x.first_seen < $until
  WITH n, count(u) AS users, min(u.user_id) AS first
  WHERE users >= 2 AND users <= $hub_max_users
  SET n:XpgRingLink, n._cc = first
} IN TRANSACTIONS OF $batch ROWS

// name: ring_mark_identifiers
MATCH (n:Identifier) WHERE n.kind IN $kinds
CALL (n) {
  MATCH (n)<-[x:HAS_IDENTIFIER]-(u:User)
  WHERE x.first_seen IS NULL OR x.first_seen < $until
  WITH n, count(u) AS users, min(u.user_id) AS first
  WHERE users >= 2 AND users <= $hub_max_users
  SET n:XpgRingLink, n._cc = first
} IN TRANSACTIONS OF $batch ROWS

// name: ring_mark_users
MATCH (n:XpgRingLink)
CALL (n) {
  MATCH (n)<-[x:USED|HAS_IDENTIFIER]-(u:User)
  WHERE x.first_seen IS NULL OR x.first_seen < $until
  SET u:XpgRingUser, u._chg = 0,
      u._cc = CASE WHEN u._cc IS NULL OR n._cc < u._cc THEN n._cc ELSE u._cc END
} IN TRANSACTIONS OF $batch ROWS

// name: ring_pass_links
// Link nodes next to a user lowered in the last pass take the smallest label of
// their users. Returns how many were lowered.
MATCH (u:XpgRingUser) WHERE u._chg = $previous
MATCH (u)-[x:USED|HAS_IDENTIFIER]->(n:XpgRingLink)
WHERE x.first_seen IS NULL OR x.first_seen < $until
WITH DISTINCT n
CALL (n) {
  MATCH (n)<-[x:USED|HAS_IDENTIFIER]-(v:XpgRingUser)
  WHERE x.first_seen IS NULL OR x.first_seen < $until
  WITH n, min(v._cc) AS smallest
  WHERE smallest < n._cc
  SET n._cc = smallest, n._chg = $pass
  RETURN count(*) AS lowered
} IN TRANSACTIONS OF $batch ROWS
RETURN sum(lowered) AS lowered

// name: ring_pass_users
// Users next to a link node lowered in the last pass take the smallest label of
// their kept links. Returns how many were lowered.
MATCH (n:XpgRingLink) WHERE n._chg = $previous
MATCH (n)<-[x:USED|HAS_IDENTIFIER]-(u:XpgRingUser)
WHERE x.first_seen IS NULL OR x.first_seen < $until
WITH DISTINCT u
CALL (u) {
  MATCH (u)-[x:USED|HAS_IDENTIFIER]->(m:XpgRingLink)
  WHERE x.first_seen IS NULL OR x.first_seen < $until
  WITH u, min(m._cc) AS smallest
  WHERE smallest < u._cc
  SET u._cc = smallest, u._chg = $pass
  RETURN count(*) AS lowered
} IN TRANSACTIONS OF $batch ROWS
RETURN sum(lowered) AS lowered

// name: ring_kept_links
// Read-only path (a session opened for reading writes no scratch labels): every kept
// link (a device, or an identifier of $kinds, with 2..$hub_max_users users as of the run
// date) with its users; the components are then computed in Python.
CALL () {
  MATCH (n:Device)<-[x:USED]-(u:User)
  WHERE x.first_seen IS NULL OR x.first_seen < $until
  WITH n, collect(u.user_id) AS users
  WHERE size(users) >= 2 AND size(users) <= $hub_max_users
  UNWIND users AS user_id
  RETURN 'device' AS kind, n.device_id AS value, user_id
  UNION ALL
  MATCH (n:Identifier)<-[x:HAS_IDENTIFIER]-(u:User)
  WHERE n.kind IN $kinds AND (x.first_seen IS NULL OR x.first_seen < $until)
  WITH n, collect(u.user_id) AS users
  WHERE size(users) >= 2 AND size(users) <= $hub_max_users
  UNWIND users AS user_id
  RETURN n.kind AS kind, n.value AS value, user_id
}
RETURN kind, value, user_id

// name: gds_available
SHOW PROCEDURES YIELD name
WHERE name IN ['gds.graph.project', 'gds.wcc.stream', 'gds.graph.drop']
RETURN count(*) = 3 AS available

// name: gds_project
// GDS path (when the plugin is installed): the kept links as an undirected projection.
MATCH (u:XpgRingUser)-[x:USED|HAS_IDENTIFIER]->(n:XpgRingLink)
WHERE x.first_seen IS NULL OR x.first_seen < $until
WITH gds.graph.project($graph, u, n) AS g
RETURN g.nodeCount AS nodes

// name: gds_wcc
// Weakly connected components; each user's label is the smallest user_id of its component.
CALL gds.wcc.stream($graph) YIELD nodeId, componentId
WITH gds.util.asNode(nodeId) AS n, componentId
WHERE n:XpgRingUser
WITH componentId, collect(n) AS users, min(n.user_id) AS label
UNWIND users AS u
SET u._cc = label
RETURN count(*) AS users

// name: gds_drop
CALL gds.graph.drop($graph, false) YIELD graphName
RETURN graphName
