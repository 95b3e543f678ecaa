// The frames of rule linked_risk (xpg.queries.rules.linked_risk), computed in Neo4j; the
// rule's predicate decides in Python, as for every backend.

// name: linked_risk_accounts
// Every account frozen or closed as of the run date, with its reason.
MATCH (u:User)-[:HAS_ACCOUNT]->(a:Account)
WHERE a.status IN ['frozen', 'closed'] AND a.retired_at IS NULL
  AND (a.opened_at IS NULL OR a.opened_at <= $as_of)
RETURN u.user_id AS user_id, a.account_id AS account_id, a.product_id AS product_id,
       a.status AS status, a.status_reason AS reason

// name: linked_risk_written_off
// External loans written off, opened on or before the run date.
MATCH (u:User)-[x:BORROWED_FROM]->(l:Lender)
WHERE x.status = 'written_off' AND x.opened_at <= $as_of
RETURN DISTINCT u.user_id AS user_id, l.lender_id AS lender_id

// name: linked_risk_links
// For each kept node of a user of $bad (a device, or an identifier of $kinds, linked as of
// the run date to 2..$hub_max_users users in all), each other user on it.
UNWIND $bad AS bad_id
MATCH (b:User {user_id: bad_id})-[r:USED|HAS_IDENTIFIER]->(n)
WHERE (r.first_seen IS NULL OR r.first_seen < $until)
  AND (n:Device OR (n:Identifier AND n.kind IN $kinds))
WITH DISTINCT b, n
CALL (n) {
  MATCH (n)<-[y:USED|HAS_IDENTIFIER]-(v:User)
  WHERE y.first_seen IS NULL OR y.first_seen < $until
  RETURN collect(DISTINCT v.user_id) AS users
}
WITH b, n, users
WHERE size(users) >= 2 AND size(users) <= $hub_max_users
UNWIND users AS other
WITH b, n, users, other
WHERE other <> b.user_id
RETURN b.user_id AS bad_user_id,
       CASE WHEN n:Device THEN 'device' ELSE n.kind END AS kind,
       CASE WHEN n:Device THEN n.device_id ELSE n.value END AS value,
       size(users) AS users, other AS user_id
