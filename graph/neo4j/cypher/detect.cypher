// The detection frames of the rules (xpg.queries.rules.<rule>: each form names its statement
// here), computed in Neo4j; docs/detections.md gives each frame's rows, and each rule module
// its Polars form of the same frame.
// Only the frames come back to Python; the shared assembly makes the findings.
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
  WHERE x.status IN $open AND x.opened_at <= $as_of
  RETURN sum(coalesce(toInteger(floor(x.outstanding * 1000000.0 + 0.5)), 0))
         AS external_outstanding
}
RETURN u.user_id AS user_id,
       toFloat(internal_limit) / 1000000.0 AS internal_limit,
       toFloat(internal_outstanding) / 1000000.0 AS internal_outstanding,
       toFloat(drawable) / 1000000.0 AS drawable,
       toFloat(external_outstanding) / 1000000.0 AS external_outstanding,
       toFloat(internal_outstanding + drawable + external_outstanding) / 1000000.0 AS total

// name: multi_lending
// Users meeting one criterion, then their three lender lists (sorted in Python).
CALL () {
  MATCH (u:User)-[x:BORROWED_FROM]->(l:Lender)
  WHERE x.status IN $open AND x.opened_at <= $as_of
  WITH u, count(DISTINCT l) AS lenders
  WHERE lenders >= $min_open_lenders
  RETURN u
  UNION
  MATCH (u:User)-[x:APPLIED_TO]->(l:Lender)
  WHERE x.applied_at >= $short_start AND x.applied_at < $until
  WITH u, count(DISTINCT l) AS lenders
  WHERE lenders >= $short_window_lenders
  RETURN u
  UNION
  MATCH (u:User)-[x:APPLIED_TO]->(l:Lender)
  WHERE x.applied_at >= $long_start AND x.applied_at < $until
  WITH u, count(DISTINCT l) AS lenders
  WHERE lenders >= $long_window_lenders
  RETURN u
}
CALL (u) {
  OPTIONAL MATCH (u)-[x:BORROWED_FROM]->(l:Lender)
  WHERE x.status IN $open AND x.opened_at <= $as_of
  RETURN collect(DISTINCT l.lender_id) AS open_lenders
}
CALL (u) {
  OPTIONAL MATCH (u)-[x:APPLIED_TO]->(l:Lender)
  WHERE x.applied_at >= $short_start AND x.applied_at < $until
  RETURN collect(DISTINCT l.lender_id) AS short_window_lenders
}
CALL (u) {
  OPTIONAL MATCH (u)-[x:APPLIED_TO]->(l:Lender)
  WHERE x.applied_at >= $long_start AND x.applied_at < $until
  RETURN collect(DISTINCT l.lender_id) AS long_window_lenders
}
RETURN u.user_id AS user_id, open_lenders, short_window_lenders, long_window_lenders

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

// name: ring_groups
// One row per member of a group of at least $min_users users; the group is its label.
MATCH (u:XpgRingUser)
WITH u._cc AS group, collect(u.user_id) AS members
WHERE size(members) >= $min_users
UNWIND members AS user_id
RETURN group, user_id

// name: ring_devices
// Kept devices linked to at least two members of a group ($members: {group, user_id}).
UNWIND $members AS m
MATCH (u:User {user_id: m.user_id})-[x:USED]->(d:Device:XpgRingLink)
WHERE x.first_seen IS NULL OR x.first_seen < $until
WITH m.group AS group, d, count(DISTINCT u) AS members
WHERE members >= 2
RETURN group, d.device_id AS device_id, members

// name: ring_identifiers
UNWIND $members AS m
MATCH (u:User {user_id: m.user_id})-[x:HAS_IDENTIFIER]->(i:Identifier:XpgRingLink)
WHERE x.first_seen IS NULL OR x.first_seen < $until
WITH m.group AS group, i, count(DISTINCT u) AS members
WHERE members >= 2
RETURN group, i.kind AS kind, i.value AS value, members

// name: ring_lenders
UNWIND $members AS m
MATCH (u:User {user_id: m.user_id})-[x:BORROWED_FROM]->(l:Lender)
WHERE x.status IN $open AND x.opened_at <= $as_of
RETURN m.group AS group, l.lender_id AS lender_id, count(DISTINCT u) AS members

// ---------------------------------------------------------------------------------
// Cross-product rules. Each statement returns the rule's candidate pairs; the rule's one
// predicate (xpg.queries.rules.<rule>.qualify: the freeze reason's scope, the depth of a
// limit cut) keeps the findings' rows, in Python, for every backend alike.

// name: freeze_inconsistency
MATCH (u:User)-[:HAS_ACCOUNT]->(f:Account)-[:IN_PRODUCT]->(fp:Product)
WHERE f.status IN ['frozen', 'closed'] AND f.retired_at IS NULL
  AND (f.opened_at IS NULL OR f.opened_at <= $as_of)
MATCH (u)-[:HAS_ACCOUNT]->(a:Account)-[:IN_PRODUCT]->(ap:Product)
WHERE a.status = 'active' AND a.retired_at IS NULL
  AND (a.opened_at IS NULL OR a.opened_at <= $as_of)
  AND a.credit_limit - a.outstanding > 0 AND ap.kind <> fp.kind
RETURN u.user_id AS user_id,
       f.account_id AS frozen_account_id, f.product_id AS frozen_product_id,
       fp.kind AS frozen_kind, f.status AS frozen_status, f.status_reason AS frozen_reason,
       f.status_changed_at AS frozen_since,
       a.account_id AS drawable_account_id, a.product_id AS drawable_product_id,
       ap.kind AS drawable_kind, a.credit_limit - a.outstanding AS drawable

// name: restored_after_freeze
// A freeze event (reason: the event's, else the account's) of an account still frozen,
// with no lift ($lifts: unfreeze/reopen) of that account after it, and a lift of another
// account of the same user after the freeze.
MATCH (u:User)-[:HAS_ACCOUNT]->(a:Account)-[:HAD_EVENT]->(e:AccountEvent)
WHERE e.event = 'freeze' AND e.retired_at IS NULL AND e.at < $until
  AND a.status = 'frozen' AND a.retired_at IS NULL
  AND (a.opened_at IS NULL OR a.opened_at <= $as_of)
  AND NOT EXISTS {
    MATCH (a)-[:HAD_EVENT]->(l:AccountEvent)
    WHERE l.event IN $lifts AND l.retired_at IS NULL
      AND l.at < $until AND l.at > e.at
  }
WITH u, a, e, coalesce(e.reason, a.status_reason) AS reason
MATCH (u)-[:HAS_ACCOUNT]->(b:Account)-[:HAD_EVENT]->(r:AccountEvent)
WHERE b <> a AND b.retired_at IS NULL AND (b.opened_at IS NULL OR b.opened_at <= $as_of)
  AND r.event IN $lifts AND r.retired_at IS NULL
  AND r.at < $until AND r.at > e.at
RETURN u.user_id AS user_id,
       a.account_id AS frozen_account_id, a.product_id AS frozen_product_id,
       e.at AS freeze_at, reason AS freeze_reason,
       b.account_id AS restored_account_id, b.product_id AS restored_product_id,
       r.event AS restored_event, r.at AS restored_at,
       CASE WHEN b.status = 'active' AND b.credit_limit > b.outstanding
            THEN b.credit_limit - b.outstanding ELSE 0.0 END AS restored_drawable

// name: limit_divergence
// A limit cut and a limit raise on an account of the other product kind of the same
// user, both within the window (the rule's predicate decides which cuts are deep enough).
MATCH (u:User)-[:HAS_ACCOUNT]->(a:Account)-[:HAD_EVENT]->(c:AccountEvent)
WHERE c.event = 'limit_change' AND c.retired_at IS NULL
  AND c.at >= $window_start AND c.at < $until
  AND c.old_limit IS NOT NULL AND c.new_limit IS NOT NULL AND c.new_limit < c.old_limit
  AND a.retired_at IS NULL AND (a.opened_at IS NULL OR a.opened_at <= $as_of)
MATCH (a)-[:IN_PRODUCT]->(ap:Product)
MATCH (u)-[:HAS_ACCOUNT]->(b:Account)-[:HAD_EVENT]->(r:AccountEvent)
WHERE r.event = 'limit_change' AND r.retired_at IS NULL
  AND r.at >= $window_start AND r.at < $until
  AND r.old_limit IS NOT NULL AND r.new_limit IS NOT NULL AND r.new_limit > r.old_limit
  AND b.retired_at IS NULL AND (b.opened_at IS NULL OR b.opened_at <= $as_of)
MATCH (b)-[:IN_PRODUCT]->(bp:Product)
WHERE bp.kind <> ap.kind
RETURN u.user_id AS user_id,
       a.account_id AS cut_account_id, a.product_id AS cut_product_id, ap.kind AS cut_kind,
       c.at AS cut_at, c.old_limit AS cut_old_limit, c.new_limit AS cut_new_limit,
       b.account_id AS raise_account_id, b.product_id AS raise_product_id,
       bp.kind AS raise_kind,
       r.at AS raise_at, r.old_limit AS raise_old_limit, r.new_limit AS raise_new_limit
