// Rule restored_after_freeze (xpg.queries.rules.restored_after_freeze): its Neo4j form.

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
       {{drawable b}} AS restored_drawable
