// Rule limit_divergence (xpg.queries.rules.limit_divergence): its Neo4j form.

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
