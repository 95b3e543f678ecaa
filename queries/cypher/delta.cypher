// The delta load (graph/neo4j_delta.py): what the database holds, as the hashes of the
// rows that wrote it, pulled in one read per step; then only new and changed rows are
// written (load.cypher's merge_* statements) and what the new snapshot no longer holds is
// retired by its row key, as a full load retires it (relationships of the snapshot
// deleted, nodes given `retired_at`). Each hashes_* read returns ONE record: two lists
// of integers, `row_key` and `row_hash`, of the current (not retired) nodes or of the
// relationships of that step.

// name: hashes_products
MATCH (n:Product) WHERE n.retired_at IS NULL
RETURN collect(n.row_key) AS row_key, collect(n.row_hash) AS row_hash

// name: hashes_lenders
MATCH (n:Lender) WHERE n.retired_at IS NULL
RETURN collect(n.row_key) AS row_key, collect(n.row_hash) AS row_hash

// name: hashes_users
MATCH (n:User) WHERE n.retired_at IS NULL
RETURN collect(n.row_key) AS row_key, collect(n.row_hash) AS row_hash

// name: hashes_devices
MATCH (n:Device) WHERE n.retired_at IS NULL
RETURN collect(n.row_key) AS row_key, collect(n.row_hash) AS row_hash

// name: hashes_identifiers
MATCH (n:Identifier) WHERE n.retired_at IS NULL
RETURN collect(n.row_key) AS row_key, collect(n.row_hash) AS row_hash

// name: hashes_accounts
MATCH (n:Account) WHERE n.retired_at IS NULL
RETURN collect(n.row_key) AS row_key, collect(n.row_hash) AS row_hash

// name: hashes_account_events
MATCH (n:AccountEvent) WHERE n.retired_at IS NULL
RETURN collect(n.row_key) AS row_key, collect(n.row_hash) AS row_hash

// name: hashes_used
MATCH ()-[x:USED]->()
RETURN collect(x.row_key) AS row_key, collect(x.row_hash) AS row_hash

// name: hashes_has_identifier
MATCH ()-[x:HAS_IDENTIFIER]->()
RETURN collect(x.row_key) AS row_key, collect(x.row_hash) AS row_hash

// name: hashes_borrowed_from
MATCH ()-[x:BORROWED_FROM]->()
RETURN collect(x.row_key) AS row_key, collect(x.row_hash) AS row_hash

// name: hashes_applied_to
MATCH ()-[x:APPLIED_TO]->()
RETURN collect(x.row_key) AS row_key, collect(x.row_hash) AS row_hash

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

// Retiring by row key what the new snapshot no longer holds ($keys: the removed rows'
// row_key values; one scan of the label or type, the keys looked up in a set).

// name: drop_used
MATCH ()-[x:USED]->() WHERE x.row_key IN $keys
DELETE x

// name: drop_has_identifier
MATCH ()-[x:HAS_IDENTIFIER]->() WHERE x.row_key IN $keys
DELETE x

// name: drop_borrowed_from
MATCH ()-[x:BORROWED_FROM]->() WHERE x.row_key IN $keys
DELETE x

// name: drop_applied_to
MATCH ()-[x:APPLIED_TO]->() WHERE x.row_key IN $keys
DELETE x

// name: drop_users
MATCH (n:User) WHERE n.retired_at IS NULL AND n.row_key IN $keys
SET n.retired_at = $now

// name: drop_products
MATCH (n:Product) WHERE n.retired_at IS NULL AND n.row_key IN $keys
SET n.retired_at = $now

// name: drop_accounts
MATCH (n:Account) WHERE n.retired_at IS NULL AND n.row_key IN $keys
SET n.retired_at = $now

// name: drop_lenders
MATCH (n:Lender) WHERE n.retired_at IS NULL AND n.row_key IN $keys
SET n.retired_at = $now

// name: drop_devices
MATCH (n:Device) WHERE n.retired_at IS NULL AND n.row_key IN $keys
SET n.retired_at = $now

// name: drop_identifiers
MATCH (n:Identifier) WHERE n.retired_at IS NULL AND n.row_key IN $keys
SET n.retired_at = $now

// name: drop_account_events
MATCH (n:AccountEvent) WHERE n.retired_at IS NULL AND n.row_key IN $keys
SET n.retired_at = $now
