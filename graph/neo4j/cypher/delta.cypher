// The delta load (graph/neo4j/delta.py): what the database holds, as the hashes of the
// rows that wrote it, pulled in one read per step; then only new and changed rows are
// written (load.cypher's merge_* statements) and what the new snapshot no longer holds is
// retired by its row hash, as a full load retires it (relationships of the snapshot
// deleted, nodes given `retired_at`). Each hashes_* read returns ONE record: one list of
// integers, `row_hash`, of the current (not retired) nodes or of the relationships of
// that step (a row's hash covers its key columns too: one value per row is enough).

// name: hashes_products
MATCH (n:Product) WHERE n.retired_at IS NULL
RETURN collect(n.row_hash) AS row_hash

// name: hashes_lenders
MATCH (n:Lender) WHERE n.retired_at IS NULL
RETURN collect(n.row_hash) AS row_hash

// name: hashes_users
MATCH (n:User) WHERE n.retired_at IS NULL
RETURN collect(n.row_hash) AS row_hash

// name: hashes_devices
MATCH (n:Device) WHERE n.retired_at IS NULL
RETURN collect(n.row_hash) AS row_hash

// name: hashes_identifiers
MATCH (n:Identifier) WHERE n.retired_at IS NULL
RETURN collect(n.row_hash) AS row_hash

// name: hashes_accounts
MATCH (n:Account) WHERE n.retired_at IS NULL
RETURN collect(n.row_hash) AS row_hash

// name: hashes_account_events
MATCH (n:AccountEvent) WHERE n.retired_at IS NULL
RETURN collect(n.row_hash) AS row_hash

// name: hashes_used
MATCH ()-[x:USED]->()
RETURN collect(x.row_hash) AS row_hash

// name: hashes_has_identifier
MATCH ()-[x:HAS_IDENTIFIER]->()
RETURN collect(x.row_hash) AS row_hash

// name: hashes_borrowed_from
MATCH ()-[x:BORROWED_FROM]->()
RETURN collect(x.row_hash) AS row_hash

// name: hashes_applied_to
MATCH ()-[x:APPLIED_TO]->()
RETURN collect(x.row_hash) AS row_hash

// Element ids of known nodes by key, for the look-ups of the rows a delta writes (the
// nodes it did not write itself). Index seeks.

// name: ids_Product
UNWIND $product_id AS id
MATCH (n:Product {product_id: id})
RETURN collect(id) AS product_id, collect(elementId(n)) AS node

// name: ids_Lender
UNWIND $lender_id AS id
MATCH (n:Lender {lender_id: id})
RETURN collect(id) AS lender_id, collect(elementId(n)) AS node

// name: ids_User
UNWIND $user_id AS id
MATCH (n:User {user_id: id})
RETURN collect(id) AS user_id, collect(elementId(n)) AS node

// name: ids_Device
UNWIND $device_id AS id
MATCH (n:Device {device_id: id})
RETURN collect(id) AS device_id, collect(elementId(n)) AS node

// name: ids_Identifier
UNWIND range(0, size($kind) - 1) AS k
MATCH (n:Identifier {kind: $kind[k], value: $value[k]})
RETURN collect(n.kind) AS kind, collect(n.value) AS value, collect(elementId(n)) AS node

// name: ids_Account
UNWIND $account_id AS id
MATCH (n:Account {account_id: id})
RETURN collect(id) AS account_id, collect(elementId(n)) AS node

// An account written again with another owner or product: the old links go (a full
// load's retire_has_account and retire_in_product, for those accounts only).

// name: relink_accounts
UNWIND $ids AS id
MATCH (a:Account {account_id: id})
CALL (a) {
  MATCH ()-[x:HAS_ACCOUNT]->(a) WHERE x.load <> $load
  DELETE x
}
CALL (a) {
  MATCH (a)-[x:IN_PRODUCT]->() WHERE x.load <> $load
  DELETE x
}

// Retiring what the new snapshot no longer holds, after its new and changed rows are
// written: $hashes are the row_hash values the database held that the snapshot does not
// (rows changed or removed). A changed row was written again by this load (its row_hash
// is the new one now), so what still carries one of them was removed: a relationship of
// the snapshot is deleted, a node given `retired_at`. Each hash is an index seek (the
// index_row_hash_* indexes below, which the first delta creates). Each returns `n`, the
// rows retired.

// name: drop_used
UNWIND $hashes AS h
MATCH ()-[x:USED {row_hash: h}]->() WHERE x.load <> $load
DELETE x
RETURN count(*) AS n

// name: drop_has_identifier
UNWIND $hashes AS h
MATCH ()-[x:HAS_IDENTIFIER {row_hash: h}]->() WHERE x.load <> $load
DELETE x
RETURN count(*) AS n

// name: drop_borrowed_from
UNWIND $hashes AS h
MATCH ()-[x:BORROWED_FROM {row_hash: h}]->() WHERE x.load <> $load
DELETE x
RETURN count(*) AS n

// name: drop_applied_to
UNWIND $hashes AS h
MATCH ()-[x:APPLIED_TO {row_hash: h}]->() WHERE x.load <> $load
DELETE x
RETURN count(*) AS n

// name: drop_users
UNWIND $hashes AS h
MATCH (n:User {row_hash: h}) WHERE n.retired_at IS NULL AND n.load <> $load
SET n.retired_at = $now
RETURN count(*) AS n

// name: drop_products
UNWIND $hashes AS h
MATCH (n:Product {row_hash: h}) WHERE n.retired_at IS NULL AND n.load <> $load
SET n.retired_at = $now
RETURN count(*) AS n

// name: drop_accounts
UNWIND $hashes AS h
MATCH (n:Account {row_hash: h}) WHERE n.retired_at IS NULL AND n.load <> $load
SET n.retired_at = $now
RETURN count(*) AS n

// name: drop_lenders
UNWIND $hashes AS h
MATCH (n:Lender {row_hash: h}) WHERE n.retired_at IS NULL AND n.load <> $load
SET n.retired_at = $now
RETURN count(*) AS n

// name: drop_devices
UNWIND $hashes AS h
MATCH (n:Device {row_hash: h}) WHERE n.retired_at IS NULL AND n.load <> $load
SET n.retired_at = $now
RETURN count(*) AS n

// name: drop_identifiers
UNWIND $hashes AS h
MATCH (n:Identifier {row_hash: h}) WHERE n.retired_at IS NULL AND n.load <> $load
SET n.retired_at = $now
RETURN count(*) AS n

// name: drop_account_events
UNWIND $hashes AS h
MATCH (n:AccountEvent {row_hash: h}) WHERE n.retired_at IS NULL AND n.load <> $load
SET n.retired_at = $now
RETURN count(*) AS n

// Range indexes on row_hash, for the retirement above: created by the first delta load
// (a first load, by Cypher or by the offline import, does not pay for them), then kept
// up by every load. Idempotent.

// name: index_row_hash_products
CREATE INDEX xpg_row_hash_product IF NOT EXISTS FOR (n:Product) ON (n.row_hash)

// name: index_row_hash_lenders
CREATE INDEX xpg_row_hash_lender IF NOT EXISTS FOR (n:Lender) ON (n.row_hash)

// name: index_row_hash_users
CREATE INDEX xpg_row_hash_user IF NOT EXISTS FOR (n:User) ON (n.row_hash)

// name: index_row_hash_devices
CREATE INDEX xpg_row_hash_device IF NOT EXISTS FOR (n:Device) ON (n.row_hash)

// name: index_row_hash_identifiers
CREATE INDEX xpg_row_hash_identifier IF NOT EXISTS FOR (n:Identifier) ON (n.row_hash)

// name: index_row_hash_accounts
CREATE INDEX xpg_row_hash_account IF NOT EXISTS FOR (n:Account) ON (n.row_hash)

// name: index_row_hash_account_events
CREATE INDEX xpg_row_hash_account_event IF NOT EXISTS FOR (n:AccountEvent) ON (n.row_hash)

// name: index_row_hash_used
CREATE INDEX xpg_row_hash_used IF NOT EXISTS FOR ()-[x:USED]-() ON (x.row_hash)

// name: index_row_hash_has_identifier
CREATE INDEX xpg_row_hash_has_identifier IF NOT EXISTS FOR ()-[x:HAS_IDENTIFIER]-() ON (x.row_hash)

// name: index_row_hash_borrowed_from
CREATE INDEX xpg_row_hash_borrowed_from IF NOT EXISTS FOR ()-[x:BORROWED_FROM]-() ON (x.row_hash)

// name: index_row_hash_applied_to
CREATE INDEX xpg_row_hash_applied_to IF NOT EXISTS FOR ()-[x:APPLIED_TO]-() ON (x.row_hash)

// The hash manifest: the row_hash of every row of the last complete load, per step, as
// little-endian 64-bit integers in byte arrays of up to a million hashes each (XpgHashes
// nodes, written before the load is marked complete, tagged with its number). A delta
// reads these few byte arrays instead of a property of every node and relationship; when
// the parts of the last load are not all there (an offline import, an older xpg), it
// reads the hashes_* above.

// name: manifest_write
CREATE (:XpgHashes {step: $step, part: $part, parts: $parts, load: $load, hashes: $hashes})

// name: manifest_clear
MATCH (h:XpgHashes) WHERE h.load <> $load
DELETE h

// name: manifest_read
MATCH (h:XpgHashes {step: $step}) WHERE h.load = $load
RETURN collect(h.part) AS part, collect(h.parts) AS parts, collect(h.hashes) AS hashes
