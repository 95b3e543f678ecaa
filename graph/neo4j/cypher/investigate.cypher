// The investigative queries on Neo4j (graph/neo4j/investigate.py): each answers one
// method of xpg.queries.investigate.InvestigationSource with rows of the frame it names,
// run in READ sessions, always parameterized. Semantics (the in-memory source's):
//   * retired nodes (`retired_at` set) are not part of the current snapshot;
//   * an account exists as of $as_of when it has no opened_at or was opened by then;
//   * a link (USED, HAS_IDENTIFIER) exists when its first_seen is absent or on/before
//     $as_of; an external loan counts when opened on/before $as_of;
//   * a "lender" link is an open or overdue loan (value = lender id); $open, passed on
//     every call, holds those statuses (xpg.queries.asof.OPEN_LOAN_STATUSES).
// Node lists travel as $devices (device ids), $identifiers ([{kind, value}]) and
// $lenders (lender ids); the user lists as $ids.

// name: users
MATCH (u:User)
WHERE u.user_id IN $ids AND u.retired_at IS NULL
RETURN u.user_id AS user_id, u.registered_at AS registered_at, u.credit_score AS credit_score

// name: accounts
MATCH (u:User)-[:HAS_ACCOUNT]->(a:Account)-[:IN_PRODUCT]->(p:Product)
WHERE u.user_id IN $ids AND u.retired_at IS NULL AND a.retired_at IS NULL
  AND (a.opened_at IS NULL OR a.opened_at <= $as_of)
RETURN a.account_id AS account_id, u.user_id AS user_id, p.product_id AS product_id,
       p.kind AS product_kind, p.name AS product_name, a.credit_limit AS credit_limit,
       a.outstanding AS outstanding, a.status AS status, a.status_reason AS status_reason,
       a.status_changed_at AS status_changed_at, a.opened_at AS opened_at

// name: links
// Devices and identifiers of the users ($kinds: null for every kind, else the kinds
// wanted, 'device' for devices), and with $lenders_too their open/overdue lenders.
MATCH (u:User)
WHERE u.user_id IN $ids AND u.retired_at IS NULL
CALL (u) {
  MATCH (u)-[x:USED]->(d:Device)
  WHERE ($kinds IS NULL OR 'device' IN $kinds)
    AND (x.first_seen IS NULL OR date(x.first_seen) <= $as_of)
  RETURN 'device' AS kind, d.device_id AS value, x.first_seen AS first_seen,
         x.last_seen AS last_seen
  UNION ALL
  MATCH (u)-[x:HAS_IDENTIFIER]->(i:Identifier)
  WHERE ($kinds IS NULL OR i.kind IN $kinds)
    AND (x.first_seen IS NULL OR date(x.first_seen) <= $as_of)
  RETURN i.kind AS kind, i.value AS value, x.first_seen AS first_seen,
         x.last_seen AS last_seen
  UNION ALL
  MATCH (u)-[x:BORROWED_FROM]->(l:Lender)
  WHERE $lenders_too AND {{open_loan x}}
  WITH l, min(x.opened_at) AS opened
  RETURN 'lender' AS kind, l.lender_id AS value, localdatetime({date: opened}) AS first_seen,
         null AS last_seen
}
RETURN u.user_id AS user_id, kind, value, first_seen, last_seen

// name: node_users
// (kind, value, user_id) of every user of the given nodes as of $as_of.
CALL () {
  UNWIND $devices AS device_id
  MATCH (:Device {device_id: device_id})<-[x:USED]-(u:User)
  WHERE x.first_seen IS NULL OR date(x.first_seen) <= $as_of
  RETURN 'device' AS kind, device_id AS value, u.user_id AS user_id
  UNION ALL
  UNWIND $identifiers AS ident
  MATCH (:Identifier {kind: ident.kind, value: ident.value})<-[x:HAS_IDENTIFIER]-(u:User)
  WHERE x.first_seen IS NULL OR date(x.first_seen) <= $as_of
  RETURN ident.kind AS kind, ident.value AS value, u.user_id AS user_id
  UNION ALL
  UNWIND $lenders AS lender_id
  MATCH (:Lender {lender_id: lender_id})<-[x:BORROWED_FROM]-(u:User)
  WHERE {{open_loan x}}
  WITH DISTINCT lender_id, u
  RETURN 'lender' AS kind, lender_id AS value, u.user_id AS user_id
}
RETURN kind, value, user_id

// name: node_degrees
// Distinct users of each given node as of $as_of (a hub's users are counted, not sent).
CALL () {
  UNWIND $devices AS device_id
  MATCH (:Device {device_id: device_id})<-[x:USED]-(u:User)
  WHERE x.first_seen IS NULL OR date(x.first_seen) <= $as_of
  RETURN 'device' AS kind, device_id AS value, count(DISTINCT u) AS users
  UNION ALL
  UNWIND $identifiers AS ident
  MATCH (:Identifier {kind: ident.kind, value: ident.value})<-[x:HAS_IDENTIFIER]-(u:User)
  WHERE x.first_seen IS NULL OR date(x.first_seen) <= $as_of
  RETURN ident.kind AS kind, ident.value AS value, count(DISTINCT u) AS users
  UNION ALL
  UNWIND $lenders AS lender_id
  MATCH (:Lender {lender_id: lender_id})<-[x:BORROWED_FROM]-(u:User)
  WHERE {{open_loan x}}
  RETURN 'lender' AS kind, lender_id AS value, count(DISTINCT u) AS users
}
RETURN kind, value, users

// name: node_users_limited
// Like node_users, the $limit smallest user ids per node.
CALL () {
  UNWIND $devices AS device_id
  MATCH (:Device {device_id: device_id})<-[x:USED]-(u:User)
  WHERE x.first_seen IS NULL OR date(x.first_seen) <= $as_of
  WITH device_id, u.user_id AS user_id ORDER BY user_id
  WITH device_id, collect(user_id)[..$limit] AS users
  UNWIND users AS user_id
  RETURN 'device' AS kind, device_id AS value, user_id
  UNION ALL
  UNWIND $identifiers AS ident
  MATCH (:Identifier {kind: ident.kind, value: ident.value})<-[x:HAS_IDENTIFIER]-(u:User)
  WHERE x.first_seen IS NULL OR date(x.first_seen) <= $as_of
  WITH ident, u.user_id AS user_id ORDER BY user_id
  WITH ident, collect(user_id)[..$limit] AS users
  UNWIND users AS user_id
  RETURN ident.kind AS kind, ident.value AS value, user_id
  UNION ALL
  UNWIND $lenders AS lender_id
  MATCH (:Lender {lender_id: lender_id})<-[x:BORROWED_FROM]-(u:User)
  WHERE {{open_loan x}}
  WITH DISTINCT lender_id, u.user_id AS user_id ORDER BY user_id
  WITH lender_id, collect(user_id)[..$limit] AS users
  UNWIND users AS user_id
  RETURN 'lender' AS kind, lender_id AS value, user_id
}
RETURN kind, value, user_id

// name: loans
MATCH (u:User)-[x:BORROWED_FROM]->(l:Lender)
WHERE u.user_id IN $ids AND u.retired_at IS NULL AND x.opened_at <= $as_of
RETURN u.user_id AS user_id, l.lender_id AS lender_id, x.opened_at AS opened_at,
       x.amount AS amount, x.outstanding AS outstanding, x.status AS status,
       x.closed_at AS closed_at

// name: applications
MATCH (u:User)-[x:APPLIED_TO]->(l:Lender)
WHERE u.user_id IN $ids AND u.retired_at IS NULL AND date(x.applied_at) <= $as_of
RETURN u.user_id AS user_id, l.lender_id AS lender_id, x.applied_at AS applied_at,
       x.outcome AS outcome

// name: lenders
MATCH (l:Lender)
WHERE l.lender_id IN $ids AND l.retired_at IS NULL
RETURN l.lender_id AS lender_id, l.name AS name, l.type AS type

// name: lender_loans
MATCH (:Lender {lender_id: $id})<-[x:BORROWED_FROM]-(u:User)
WHERE x.opened_at <= $as_of
RETURN u.user_id AS user_id, $id AS lender_id, x.opened_at AS opened_at, x.amount AS amount,
       x.outstanding AS outstanding, x.status AS status, x.closed_at AS closed_at

// name: lender_applications
MATCH (:Lender {lender_id: $id})<-[x:APPLIED_TO]-(:User)
WHERE date(x.applied_at) <= $as_of
RETURN count(x) AS applications

// name: lender_known
MATCH (l:Lender {lender_id: $id})
WHERE l.retired_at IS NULL
RETURN count(l) > 0 AS known
