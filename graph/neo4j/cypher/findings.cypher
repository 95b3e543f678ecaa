// Findings written back into the graph (docs/neo4j.md): one (:Finding) per finding
// and run date, -[:FLAGS]-> each of its users. A run replaces the findings of its own
// run date in one transaction (delete_findings, replace_findings, write_findings_run);
// other run dates stay, so the graph keeps the history of nightly runs. The run's
// (:FindingsRun {as_of}) records the load it was computed on and the detection settings,
// so that a later session on the same graph and settings reads the findings instead of
// detecting again (read_findings_run).

// name: delete_findings
MATCH (f:Finding {as_of: $as_of})
DETACH DELETE f

// name: replace_findings
UNWIND $rows AS r
CREATE (f:Finding {id: r.id, as_of: $as_of})
SET f += r.p, f.rank = r.rank, f.written_at = $now
WITH f, r
UNWIND r.users AS user_id
MATCH (u:User {user_id: user_id})
CREATE (f)-[:FLAGS]->(u)

// name: write_findings_run
MATCH (m:XpgMeta {name: 'graph'})
MERGE (r:FindingsRun {as_of: $as_of})
SET r.load = m.load, r.config = $config, r.summary = $summary, r.findings = $count,
    r.written_at = $now

// name: read_findings_run
// The run of that date, only when computed on the graph as it is now (the last complete
// load) with these detection settings.
MATCH (m:XpgMeta {name: 'graph'})
WHERE m.state = 'complete'
MATCH (r:FindingsRun {as_of: $as_of})
WHERE r.load = m.load AND r.config = $config
RETURN r.summary AS summary, r.findings AS findings

// name: read_findings
MATCH (f:Finding {as_of: $as_of})
RETURN properties(f) AS f
ORDER BY f.rank, f.id
