// Findings written back into the graph (docs/neo4j.md): one (:Finding) per finding
// and run date, -[:FLAGS]-> each of its users. A run replaces the findings of its own
// run date in one transaction (delete_findings then replace_findings); other run dates
// stay, so the graph keeps the history of nightly runs.

// name: delete_findings
MATCH (f:Finding {as_of: $as_of})
DETACH DELETE f

// name: replace_findings
UNWIND $rows AS r
CREATE (f:Finding {id: r.id, as_of: $as_of})
SET f += r.p, f.written_at = $now
WITH f, r
UNWIND r.users AS user_id
MATCH (u:User {user_id: user_id})
CREATE (f)-[:FLAGS]->(u)

// name: read_findings
MATCH (f:Finding {as_of: $as_of})
RETURN properties(f) AS f
ORDER BY f.id
