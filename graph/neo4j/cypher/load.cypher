// The load: one statement per step (docs/neo4j.md). Each is sent one batch at a time
// with the batch as COLUMNS: one list parameter per column ($id, $user_id, ...), all of
// the same length, walked with `UNWIND range(0, size($...) - 1) AS k`. Lists of plain
// strings and numbers travel far faster than a list of maps; dates and datetimes travel
// as ISO text and are parsed here (date(), localdatetime()), which is several times
// faster than the driver's temporal types. Every property is named (no `SET n += map`,
// which forces an Eager step), so each batch streams.
//
// Every node and relationship written is stamped with the load's number ($load); what a
// complete load did not stamp is retired afterwards (the retire_* statements). Each also
// keeps `row_key` and `row_hash`, 64-bit hashes of its input row's key columns and of the
// whole row (graph/neo4j/delta.py): a later load of a new snapshot compares them and
// writes only the rows that are new or changed (delta.cypher).
//
// Two forms per step:
//   merge_*  idempotent: MERGE on the key (uniqueness constraints make it an index seek);
//            re-running a batch, a failed load or the whole load changes nothing. Run in
//            managed transactions, retried by the driver on transient errors.
//   create_* used only while the database holds no node of that label (no relationship
//            of that type): every row is then known to be new, and CREATE skips the
//            look-up. Run once, without retries.
// Each returns `rows`: the number of input rows written, or for the steps that write
// nodes later steps link to, the list of rows written with `nodes`, their element ids.
// The loader checks that every row was written, and the later steps find those nodes
// with `elementId(n) = $u[k]` (a direct seek, cheaper than an index look-up): $u, $d, $i,
// $l, $p and $a hold the element ids of the user, device, identifier, lender, product
// and account of each row.
// Extra input columns (beyond the contract) are written afterwards by extra_* with a
// list of maps ($extra), only when the input has any.

// name: merge_products
UNWIND range(0, size($id) - 1) AS k
MERGE (n:Product {product_id: $id[k]})
SET n.kind = $kind[k], n.name = $name[k], n.load = $load, n.retired_at = null,
    n.row_key = $row_key[k], n.row_hash = $row_hash[k]
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: create_products
UNWIND range(0, size($id) - 1) AS k
CREATE (n:Product {product_id: $id[k], kind: $kind[k], name: $name[k], load: $load,
                   row_key: $row_key[k], row_hash: $row_hash[k]})
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: extra_products
UNWIND range(0, size($id) - 1) AS k
MATCH (n:Product {product_id: $id[k]})
SET n += $extra[k]

// name: merge_lenders
UNWIND range(0, size($id) - 1) AS k
MERGE (n:Lender {lender_id: $id[k]})
SET n.name = $name[k], n.type = $type[k], n.load = $load, n.retired_at = null,
    n.row_key = $row_key[k], n.row_hash = $row_hash[k]
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: create_lenders
UNWIND range(0, size($id) - 1) AS k
CREATE (n:Lender {lender_id: $id[k], name: $name[k], type: $type[k], load: $load,
                  row_key: $row_key[k], row_hash: $row_hash[k]})
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: extra_lenders
UNWIND range(0, size($id) - 1) AS k
MATCH (n:Lender {lender_id: $id[k]})
SET n += $extra[k]

// name: merge_users
UNWIND range(0, size($id) - 1) AS k
MERGE (n:User {user_id: $id[k]})
SET n.registered_at = localdatetime($registered_at[k]), n.credit_score = $credit_score[k],
    n.load = $load, n.retired_at = null, n.row_key = $row_key[k], n.row_hash = $row_hash[k]
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: create_users
UNWIND range(0, size($id) - 1) AS k
CREATE (n:User {
  user_id: $id[k], registered_at: localdatetime($registered_at[k]),
  credit_score: $credit_score[k], load: $load, row_key: $row_key[k], row_hash: $row_hash[k]
})
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: extra_users
UNWIND range(0, size($id) - 1) AS k
MATCH (n:User {user_id: $id[k]})
SET n += $extra[k]

// name: merge_devices
UNWIND range(0, size($id) - 1) AS k
MERGE (n:Device {device_id: $id[k]})
SET n.load = $load, n.retired_at = null, n.row_key = $row_key[k], n.row_hash = $row_hash[k]
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: create_devices
UNWIND range(0, size($id) - 1) AS k
CREATE (n:Device {device_id: $id[k], load: $load, row_key: $row_key[k], row_hash: $row_hash[k]})
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: merge_identifiers
UNWIND range(0, size($kind) - 1) AS k
MERGE (n:Identifier {kind: $kind[k], value: $value[k]})
SET n.load = $load, n.retired_at = null, n.row_key = $row_key[k], n.row_hash = $row_hash[k]
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: create_identifiers
UNWIND range(0, size($kind) - 1) AS k
CREATE (n:Identifier {kind: $kind[k], value: $value[k], load: $load,
                      row_key: $row_key[k], row_hash: $row_hash[k]})
RETURN collect(k) AS rows, collect(elementId(n)) AS nodes

// name: merge_accounts
// An account node with its two relationships. A change of status or reason since the
// last load is kept as history: (:Account)-[:STATUS_CHANGED]->(:StatusChange).
UNWIND range(0, size($id) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (p:Product) WHERE elementId(p) = $p[k]
MERGE (a:Account {account_id: $id[k]})
WITH k, a, u, p, a.status AS was, a.status_reason AS was_reason,
     a.status_changed_at AS was_at
SET a.user_id = $user_id[k], a.product_id = $product_id[k],
    a.credit_limit = $credit_limit[k], a.outstanding = $outstanding[k],
    a.status = $status[k], a.status_reason = $status_reason[k],
    a.status_changed_at = localdatetime($status_changed_at[k]),
    a.opened_at = date($opened_at[k]),
    a.load = $load, a.retired_at = null, a.row_key = $row_key[k], a.row_hash = $row_hash[k]
MERGE (u)-[o:HAS_ACCOUNT]->(a)
SET o.load = $load
MERGE (a)-[q:IN_PRODUCT]->(p)
SET q.load = $load
WITH k, a, was, was_reason, was_at
CALL (k, a, was, was_reason, was_at) {
  WITH k, a, was, was_reason, was_at
  WHERE was IS NOT NULL
    AND (was <> a.status OR coalesce(was_reason, '') <> coalesce(a.status_reason, ''))
  CREATE (a)-[:STATUS_CHANGED {load: $load}]->(:StatusChange {
    account_id: a.account_id,
    from_status: was, from_reason: was_reason, from_changed_at: was_at,
    to_status: a.status, to_reason: a.status_reason, changed_at: a.status_changed_at,
    observed_at: $now, load: $load
  })
}
RETURN collect(k) AS rows, collect(elementId(a)) AS nodes

// name: create_accounts
UNWIND range(0, size($id) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (p:Product) WHERE elementId(p) = $p[k]
CREATE (u)-[:HAS_ACCOUNT {load: $load}]->(a:Account {
  account_id: $id[k], user_id: $user_id[k], product_id: $product_id[k],
  credit_limit: $credit_limit[k], outstanding: $outstanding[k],
  status: $status[k], status_reason: $status_reason[k],
  status_changed_at: localdatetime($status_changed_at[k]), opened_at: date($opened_at[k]),
  load: $load, row_key: $row_key[k], row_hash: $row_hash[k]
})-[:IN_PRODUCT {load: $load}]->(p)
RETURN collect(k) AS rows, collect(elementId(a)) AS nodes

// name: extra_accounts
UNWIND range(0, size($id) - 1) AS k
MATCH (n:Account {account_id: $id[k]})
SET n += $extra[k]

// name: merge_used
// One relationship per (user, device): first_seen absent when a sighting had none.
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (d:Device) WHERE elementId(d) = $d[k]
MERGE (u)-[x:USED]->(d)
SET x.first_seen = localdatetime($first_seen[k]), x.last_seen = localdatetime($last_seen[k]),
    x.load = $load, x.row_key = $row_key[k], x.row_hash = $row_hash[k]
RETURN count(*) AS rows

// name: create_used
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (d:Device) WHERE elementId(d) = $d[k]
CREATE (u)-[:USED {
  first_seen: localdatetime($first_seen[k]), last_seen: localdatetime($last_seen[k]),
  load: $load, row_key: $row_key[k], row_hash: $row_hash[k]
}]->(d)
RETURN count(*) AS rows

// name: merge_has_identifier
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (i:Identifier) WHERE elementId(i) = $i[k]
MERGE (u)-[x:HAS_IDENTIFIER]->(i)
SET x.first_seen = localdatetime($first_seen[k]), x.last_seen = localdatetime($last_seen[k]),
    x.load = $load, x.row_key = $row_key[k], x.row_hash = $row_hash[k]
RETURN count(*) AS rows

// name: create_has_identifier
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (i:Identifier) WHERE elementId(i) = $i[k]
CREATE (u)-[:HAS_IDENTIFIER {
  first_seen: localdatetime($first_seen[k]), last_seen: localdatetime($last_seen[k]),
  load: $load, row_key: $row_key[k], row_hash: $row_hash[k]
}]->(i)
RETURN count(*) AS rows

// name: merge_borrowed_from
// An external loan, keyed within its (user, lender) by opened_at and seq (the rank of
// rows that share user, lender and opened_at).
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (l:Lender) WHERE elementId(l) = $l[k]
MERGE (u)-[x:BORROWED_FROM {opened_at: date($opened_at[k]), seq: $seq[k]}]->(l)
SET x.amount = $amount[k], x.outstanding = $outstanding[k], x.status = $status[k],
    x.closed_at = date($closed_at[k]), x.load = $load, x.row_key = $row_key[k],
    x.row_hash = $row_hash[k]
RETURN count(*) AS rows

// name: create_borrowed_from
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (l:Lender) WHERE elementId(l) = $l[k]
CREATE (u)-[:BORROWED_FROM {
  opened_at: date($opened_at[k]), seq: $seq[k], amount: $amount[k],
  outstanding: $outstanding[k], status: $status[k], closed_at: date($closed_at[k]),
  load: $load, row_key: $row_key[k], row_hash: $row_hash[k]
}]->(l)
RETURN count(*) AS rows

// name: extra_borrowed_from
UNWIND range(0, size($user_id) - 1) AS k
MATCH (:User {user_id: $user_id[k]})
      -[x:BORROWED_FROM {opened_at: date($opened_at[k]), seq: $seq[k]}]->
      (:Lender {lender_id: $lender_id[k]})
SET x += $extra[k]

// name: merge_applied_to
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (l:Lender) WHERE elementId(l) = $l[k]
MERGE (u)-[x:APPLIED_TO {applied_at: localdatetime($applied_at[k]), seq: $seq[k]}]->(l)
SET x.outcome = $outcome[k], x.load = $load, x.row_key = $row_key[k],
    x.row_hash = $row_hash[k]
RETURN count(*) AS rows

// name: create_applied_to
UNWIND range(0, size($u) - 1) AS k
MATCH (u:User) WHERE elementId(u) = $u[k]
MATCH (l:Lender) WHERE elementId(l) = $l[k]
CREATE (u)-[:APPLIED_TO {
  applied_at: localdatetime($applied_at[k]), seq: $seq[k], outcome: $outcome[k],
  load: $load, row_key: $row_key[k], row_hash: $row_hash[k]
}]->(l)
RETURN count(*) AS rows

// name: extra_applied_to
UNWIND range(0, size($user_id) - 1) AS k
MATCH (:User {user_id: $user_id[k]})
      -[x:APPLIED_TO {applied_at: localdatetime($applied_at[k]), seq: $seq[k]}]->
      (:Lender {lender_id: $lender_id[k]})
SET x += $extra[k]

// name: merge_account_events
UNWIND range(0, size($key) - 1) AS k
MATCH (a:Account) WHERE elementId(a) = $a[k]
MERGE (e:AccountEvent {key: $key[k]})
SET e.account_id = $account_id[k], e.at = localdatetime($at[k]), e.event = $event[k],
    e.old_limit = $old_limit[k], e.new_limit = $new_limit[k], e.reason = $reason[k],
    e.seq = $seq[k], e.load = $load, e.retired_at = null, e.row_key = $row_key[k],
    e.row_hash = $row_hash[k]
MERGE (a)-[h:HAD_EVENT]->(e)
SET h.load = $load
RETURN count(*) AS rows

// name: create_account_events
UNWIND range(0, size($key) - 1) AS k
MATCH (a:Account) WHERE elementId(a) = $a[k]
CREATE (a)-[:HAD_EVENT {load: $load}]->(:AccountEvent {
  key: $key[k], account_id: $account_id[k], at: localdatetime($at[k]), event: $event[k],
  old_limit: $old_limit[k], new_limit: $new_limit[k], reason: $reason[k], seq: $seq[k],
  load: $load, row_key: $row_key[k], row_hash: $row_hash[k]
})
RETURN count(*) AS rows

// name: extra_account_events
UNWIND range(0, size($key) - 1) AS k
MATCH (n:AccountEvent {key: $key[k]})
SET n += $extra[k]

// name: meta
// The bookkeeping of the last load (load, state, latest_date, source, tables, users).
MATCH (m:XpgMeta {name: 'graph'})
RETURN properties(m) AS m

// name: counts
// Nodes per label and relationships per type, all from the count store (no scan).
// `nodes` leaves out the hash manifest's parts (XpgHashes, delta.cypher): bookkeeping
// that grows with the graph's size, not with its nodes.
RETURN COUNT { MATCH (n) } - COUNT { MATCH (n:XpgHashes) } AS nodes,
       COUNT { MATCH ()-[r]->() } AS relationships,
       COUNT { MATCH (n:User) } AS User,
       COUNT { MATCH (n:Product) } AS Product,
       COUNT { MATCH (n:Account) } AS Account,
       COUNT { MATCH (n:Lender) } AS Lender,
       COUNT { MATCH (n:Device) } AS Device,
       COUNT { MATCH (n:Identifier) } AS Identifier,
       COUNT { MATCH (n:AccountEvent) } AS AccountEvent,
       COUNT { MATCH (n:StatusChange) } AS StatusChange,
       COUNT { MATCH (n:Finding) } AS Finding,
       COUNT { MATCH ()-[r:HAS_ACCOUNT]->() } AS HAS_ACCOUNT,
       COUNT { MATCH ()-[r:IN_PRODUCT]->() } AS IN_PRODUCT,
       COUNT { MATCH ()-[r:USED]->() } AS USED,
       COUNT { MATCH ()-[r:HAS_IDENTIFIER]->() } AS HAS_IDENTIFIER,
       COUNT { MATCH ()-[r:BORROWED_FROM]->() } AS BORROWED_FROM,
       COUNT { MATCH ()-[r:APPLIED_TO]->() } AS APPLIED_TO,
       COUNT { MATCH ()-[r:HAD_EVENT]->() } AS HAD_EVENT,
       COUNT { MATCH ()-[r:STATUS_CHANGED]->() } AS STATUS_CHANGED,
       COUNT { MATCH ()-[r:FLAGS]->() } AS FLAGS

// name: begin_load
MERGE (m:XpgMeta {name: 'graph'})
SET m.load = coalesce(m.load, 0) + 1, m.state = 'loading', m.started_at = $now
RETURN m.load AS load

// name: end_load
MATCH (m:XpgMeta {name: 'graph'})
WHERE m.load = $load
SET m.state = 'complete', m.completed_at = $now, m.latest_date = $latest_date,
    m.source = $source, m.tables = $tables, m.users = $users, m.row_hash = $row_hash,
    m.mode = $mode
RETURN m.load AS load

// Retiring what a complete load did not write (auto-commit, batched with
// CALL ... IN TRANSACTIONS; idempotent, so a failure is fixed by loading again).
// Relationships that are facts of the snapshot and no longer in it are deleted;
// nodes are never deleted: they get `retired_at` (and keep the relationships they had
// when last seen: history). A node that comes back loses its `retired_at`.

// name: retire_used
MATCH ()-[x:USED]->() WHERE x.load <> $load
CALL (x) { DELETE x } IN TRANSACTIONS OF $batch ROWS

// name: retire_has_identifier
MATCH ()-[x:HAS_IDENTIFIER]->() WHERE x.load <> $load
CALL (x) { DELETE x } IN TRANSACTIONS OF $batch ROWS

// name: retire_borrowed_from
MATCH ()-[x:BORROWED_FROM]->() WHERE x.load <> $load
CALL (x) { DELETE x } IN TRANSACTIONS OF $batch ROWS

// name: retire_applied_to
MATCH ()-[x:APPLIED_TO]->() WHERE x.load <> $load
CALL (x) { DELETE x } IN TRANSACTIONS OF $batch ROWS

// name: retire_has_account
// An account now owned by another user: the old owner's link goes. A retired account
// keeps its owner link (history).
MATCH ()-[x:HAS_ACCOUNT]->(a:Account) WHERE x.load <> $load AND a.load = $load
CALL (x) { DELETE x } IN TRANSACTIONS OF $batch ROWS

// name: retire_in_product
MATCH (a:Account)-[x:IN_PRODUCT]->() WHERE x.load <> $load AND a.load = $load
CALL (x) { DELETE x } IN TRANSACTIONS OF $batch ROWS

// name: retire_users
MATCH (n:User) WHERE n.load <> $load AND n.retired_at IS NULL
CALL (n) { SET n.retired_at = $now } IN TRANSACTIONS OF $batch ROWS

// name: retire_products
MATCH (n:Product) WHERE n.load <> $load AND n.retired_at IS NULL
CALL (n) { SET n.retired_at = $now } IN TRANSACTIONS OF $batch ROWS

// name: retire_accounts
MATCH (n:Account) WHERE n.load <> $load AND n.retired_at IS NULL
CALL (n) { SET n.retired_at = $now } IN TRANSACTIONS OF $batch ROWS

// name: retire_lenders
MATCH (n:Lender) WHERE n.load <> $load AND n.retired_at IS NULL
CALL (n) { SET n.retired_at = $now } IN TRANSACTIONS OF $batch ROWS

// name: retire_devices
MATCH (n:Device) WHERE n.load <> $load AND n.retired_at IS NULL
CALL (n) { SET n.retired_at = $now } IN TRANSACTIONS OF $batch ROWS

// name: retire_identifiers
MATCH (n:Identifier) WHERE n.load <> $load AND n.retired_at IS NULL
CALL (n) { SET n.retired_at = $now } IN TRANSACTIONS OF $batch ROWS

// name: retire_account_events
MATCH (n:AccountEvent) WHERE n.load <> $load AND n.retired_at IS NULL
CALL (n) { SET n.retired_at = $now } IN TRANSACTIONS OF $batch ROWS
