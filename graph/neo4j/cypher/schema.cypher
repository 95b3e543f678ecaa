// The exposure graph's constraints and indexes, created before any write
// (docs/graph-model.md). Every statement is idempotent (IF NOT EXISTS).
// A uniqueness constraint also gives its property an index, which every
// MERGE of the load uses.

// name: constraint_user
CREATE CONSTRAINT xpg_user IF NOT EXISTS FOR (n:User) REQUIRE n.user_id IS UNIQUE

// name: constraint_product
CREATE CONSTRAINT xpg_product IF NOT EXISTS FOR (n:Product) REQUIRE n.product_id IS UNIQUE

// name: constraint_account
CREATE CONSTRAINT xpg_account IF NOT EXISTS FOR (n:Account) REQUIRE n.account_id IS UNIQUE

// name: constraint_lender
CREATE CONSTRAINT xpg_lender IF NOT EXISTS FOR (n:Lender) REQUIRE n.lender_id IS UNIQUE

// name: constraint_device
CREATE CONSTRAINT xpg_device IF NOT EXISTS FOR (n:Device) REQUIRE n.device_id IS UNIQUE

// name: constraint_identifier
CREATE CONSTRAINT xpg_identifier IF NOT EXISTS
FOR (n:Identifier) REQUIRE (n.kind, n.value) IS UNIQUE

// name: constraint_account_event
CREATE CONSTRAINT xpg_account_event IF NOT EXISTS FOR (n:AccountEvent) REQUIRE n.key IS UNIQUE

// name: constraint_finding
// One finding per id and run date: findings are versioned by run date.
CREATE CONSTRAINT xpg_finding IF NOT EXISTS FOR (n:Finding) REQUIRE (n.id, n.as_of) IS UNIQUE

// name: constraint_findings_run
CREATE CONSTRAINT xpg_findings_run IF NOT EXISTS FOR (n:FindingsRun) REQUIRE n.as_of IS UNIQUE

// name: constraint_meta
CREATE CONSTRAINT xpg_meta IF NOT EXISTS FOR (n:XpgMeta) REQUIRE n.name IS UNIQUE

// name: constraint_lock
// One job lock per name (graph/neo4j/lock.py): taken with MERGE on this key.
CREATE CONSTRAINT xpg_lock IF NOT EXISTS FOR (n:XpgLock) REQUIRE n.name IS UNIQUE

// name: index_finding_as_of
CREATE INDEX xpg_finding_as_of IF NOT EXISTS FOR (n:Finding) ON (n.as_of)

// name: index_status_change
CREATE INDEX xpg_status_change IF NOT EXISTS FOR (n:StatusChange) ON (n.account_id)

// name: existing
// The xpg indexes (constraints included: each has one) and whether all are online.
SHOW INDEXES YIELD name, state
WHERE name STARTS WITH 'xpg_'
RETURN collect(name) AS names, all(s IN collect(state) WHERE s = 'ONLINE') AS online

// name: await_indexes
// Wait until every index is online before the first write.
CALL db.awaitIndexes(300)

// name: constraint_group
// A stored connected group of the last detection (graph/neo4j/groups.py), by its name
// (its smallest user_id).
CREATE CONSTRAINT xpg_group IF NOT EXISTS FOR (n:XpgGroup) REQUIRE n.group IS UNIQUE

// name: constraint_group_member
// Each user's stored connected group: one XpgGroupMember per user on a kept link.
CREATE CONSTRAINT xpg_group_member IF NOT EXISTS FOR (n:XpgGroupMember) REQUIRE n.user_id IS UNIQUE

// name: constraint_groups_run
CREATE CONSTRAINT xpg_groups_run IF NOT EXISTS FOR (n:XpgGroupsRun) REQUIRE n.name IS UNIQUE
