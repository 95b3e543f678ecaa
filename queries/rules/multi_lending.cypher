// Rule multi_lending (xpg.queries.rules.multi_lending): its Neo4j form. Parameters as in
// queries/cypher/detect.cypher ($as_of, $until, $open), and the rule's (_params).

// name: multi_lending
// Users meeting one criterion, then their three lender lists (sorted in Python).
CALL () {
  MATCH (u:User)-[x:BORROWED_FROM]->(l:Lender)
  WHERE {{open_loan x}}
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
  WHERE {{open_loan x}}
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
