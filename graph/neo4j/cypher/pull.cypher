// Reading the graph back as tables (graph/neo4j/pull.py): one read per table, each
// returning ONE record of one list per column (the table's columns, in order): the rows
// are collected as lists (nulls kept, which collect() of a bare value would drop) and cut
// into columns in the database, so the client builds each Polars column from one list
// (no per-row work in Python, and the driver decodes one record, not one per row).
// Retired nodes (`retired_at` set) are not part of the snapshot; the snapshot's
// relationships are deleted when retired, so every one left is current.
// Datetimes come back as microseconds since the epoch (naive, UTC) and dates as ISO text:
// plain values, made Polars temporals in one vectorized step.

// name: users
MATCH (n:User) WHERE n.retired_at IS NULL
WITH collect([n.user_id,
  CASE WHEN n.registered_at IS NULL THEN null ELSE
    datetime({datetime: n.registered_at, timezone: 'Z'}).epochSeconds * 1000000
    + n.registered_at.microsecond END,
  n.credit_score]) AS rows
RETURN [r IN rows | r[0]] AS user_id,
       [r IN rows | r[1]] AS registered_at,
       [r IN rows | r[2]] AS credit_score

// name: products
MATCH (n:Product) WHERE n.retired_at IS NULL
WITH collect([n.product_id, n.kind, n.name]) AS rows
RETURN [r IN rows | r[0]] AS product_id,
       [r IN rows | r[1]] AS kind,
       [r IN rows | r[2]] AS name

// name: lenders
MATCH (n:Lender) WHERE n.retired_at IS NULL
WITH collect([n.lender_id, n.name, n.type]) AS rows
RETURN [r IN rows | r[0]] AS lender_id,
       [r IN rows | r[1]] AS name,
       [r IN rows | r[2]] AS type

// name: accounts
MATCH (n:Account) WHERE n.retired_at IS NULL
WITH collect([n.account_id, n.user_id, n.product_id, n.credit_limit, n.outstanding,
  n.status, n.status_reason,
  CASE WHEN n.status_changed_at IS NULL THEN null ELSE
    datetime({datetime: n.status_changed_at, timezone: 'Z'}).epochSeconds * 1000000
    + n.status_changed_at.microsecond END,
  toString(n.opened_at)]) AS rows
RETURN [r IN rows | r[0]] AS account_id,
       [r IN rows | r[1]] AS user_id,
       [r IN rows | r[2]] AS product_id,
       [r IN rows | r[3]] AS credit_limit,
       [r IN rows | r[4]] AS outstanding,
       [r IN rows | r[5]] AS status,
       [r IN rows | r[6]] AS status_reason,
       [r IN rows | r[7]] AS status_changed_at,
       [r IN rows | r[8]] AS opened_at

// name: devices
MATCH (u:User)-[x:USED]->(d:Device)
WITH collect([u.user_id, d.device_id,
  CASE WHEN x.first_seen IS NULL THEN null ELSE
    datetime({datetime: x.first_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.first_seen.microsecond END,
  CASE WHEN x.last_seen IS NULL THEN null ELSE
    datetime({datetime: x.last_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.last_seen.microsecond END]) AS rows
RETURN [r IN rows | r[0]] AS user_id,
       [r IN rows | r[1]] AS device_id,
       [r IN rows | r[2]] AS first_seen,
       [r IN rows | r[3]] AS last_seen

// name: identifiers
MATCH (u:User)-[x:HAS_IDENTIFIER]->(i:Identifier)
WITH collect([u.user_id, i.kind, i.value,
  CASE WHEN x.first_seen IS NULL THEN null ELSE
    datetime({datetime: x.first_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.first_seen.microsecond END,
  CASE WHEN x.last_seen IS NULL THEN null ELSE
    datetime({datetime: x.last_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.last_seen.microsecond END]) AS rows
RETURN [r IN rows | r[0]] AS user_id,
       [r IN rows | r[1]] AS kind,
       [r IN rows | r[2]] AS value,
       [r IN rows | r[3]] AS first_seen,
       [r IN rows | r[4]] AS last_seen

// name: external_loans
MATCH (u:User)-[x:BORROWED_FROM]->(l:Lender)
WITH collect([u.user_id, l.lender_id, toString(x.opened_at), x.amount, x.outstanding,
  x.status, toString(x.closed_at)]) AS rows
RETURN [r IN rows | r[0]] AS user_id,
       [r IN rows | r[1]] AS lender_id,
       [r IN rows | r[2]] AS opened_at,
       [r IN rows | r[3]] AS amount,
       [r IN rows | r[4]] AS outstanding,
       [r IN rows | r[5]] AS status,
       [r IN rows | r[6]] AS closed_at

// name: applications
MATCH (u:User)-[x:APPLIED_TO]->(l:Lender)
WITH collect([u.user_id, l.lender_id,
  datetime({datetime: x.applied_at, timezone: 'Z'}).epochSeconds * 1000000
  + x.applied_at.microsecond,
  x.outcome]) AS rows
RETURN [r IN rows | r[0]] AS user_id,
       [r IN rows | r[1]] AS lender_id,
       [r IN rows | r[2]] AS applied_at,
       [r IN rows | r[3]] AS outcome

// name: account_events
MATCH (n:AccountEvent) WHERE n.retired_at IS NULL
WITH collect([n.account_id,
  datetime({datetime: n.at, timezone: 'Z'}).epochSeconds * 1000000 + n.at.microsecond,
  n.event, n.old_limit, n.new_limit, n.reason]) AS rows
RETURN [r IN rows | r[0]] AS account_id,
       [r IN rows | r[1]] AS at,
       [r IN rows | r[2]] AS event,
       [r IN rows | r[3]] AS old_limit,
       [r IN rows | r[4]] AS new_limit,
       [r IN rows | r[5]] AS reason
