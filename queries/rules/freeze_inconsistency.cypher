// Rule freeze_inconsistency (xpg.queries.rules.freeze_inconsistency): its Neo4j form, the
// candidate pairs; the rule's predicate (the freeze reason's scope) decides in Python.

// name: freeze_inconsistency
MATCH (u:User)-[:HAS_ACCOUNT]->(f:Account)-[:IN_PRODUCT]->(fp:Product)
WHERE f.status IN ['frozen', 'closed'] AND f.retired_at IS NULL
  AND (f.opened_at IS NULL OR f.opened_at <= $as_of)
MATCH (u)-[:HAS_ACCOUNT]->(a:Account)-[:IN_PRODUCT]->(ap:Product)
WHERE {{drawable_account a}} AND a.retired_at IS NULL
  AND (a.opened_at IS NULL OR a.opened_at <= $as_of)
  AND ap.kind <> fp.kind
RETURN u.user_id AS user_id,
       f.account_id AS frozen_account_id, f.product_id AS frozen_product_id,
       fp.kind AS frozen_kind, f.status AS frozen_status, f.status_reason AS frozen_reason,
       f.status_changed_at AS frozen_since,
       a.account_id AS drawable_account_id, a.product_id AS drawable_product_id,
       ap.kind AS drawable_kind, {{headroom a}} AS drawable
