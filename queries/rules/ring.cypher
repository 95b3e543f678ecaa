// Rule ring (xpg.queries.rules.ring): its Neo4j forms, over the ring components the Neo4j
// backend prepares (statements ring_mark_* / ring_pass_* / gds_* of queries/cypher/detect.cypher:
// scratch labels XpgRingUser, XpgRingLink and the label _cc).

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
WHERE {{open_loan x}}
RETURN m.group AS group, l.lender_id AS lender_id, count(DISTINCT u) AS members
