// The frame of rule lender_velocity (xpg.queries.rules.lender_velocity), computed in Neo4j.

// name: lender_velocity
// Each user's first day at each lender (earliest loan opened_at or application day, on or
// before the run date); the lenders first seen on or after $window_start are new; the
// users with at least $min_new_lenders new ones, with those lenders (the rule's predicate
// decides).
CALL () {
  MATCH (u:User)-[x:BORROWED_FROM]->(l:Lender)
  WHERE x.opened_at <= $as_of
  RETURN u, l, x.opened_at AS day
  UNION ALL
  MATCH (u:User)-[x:APPLIED_TO]->(l:Lender)
  WHERE x.applied_at < $until
  RETURN u, l, date(x.applied_at) AS day
}
WITH u, l, min(day) AS first_day
WHERE first_day >= $window_start
WITH u, collect([l.lender_id, first_day]) AS new
WHERE size(new) >= $min_new_lenders
UNWIND new AS n
RETURN u.user_id AS user_id, n[0] AS lender_id, n[1] AS first_day
