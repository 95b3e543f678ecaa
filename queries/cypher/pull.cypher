// Reading the graph back as tables (graph/neo4j_pull.py): one read per table, each
// returning ONE record whose `rows` is a list of rows (each a list of values, nulls kept),
// which the driver decodes several times faster than one record per row.
// Retired nodes (`retired_at` set) are not part of the snapshot; the snapshot's
// relationships are deleted when retired, so every one left is current.
// Datetimes come back as microseconds since the epoch (naive, UTC) and dates as ISO text:
// plain values, made Polars temporals in one vectorized step.

// name: users
MATCH (n:User) WHERE n.retired_at IS NULL
RETURN collect([n.user_id,
  CASE WHEN n.registered_at IS NULL THEN null ELSE
    datetime({datetime: n.registered_at, timezone: 'Z'}).epochSeconds * 1000000
    + n.registered_at.microsecond END,
  n.credit_score]) AS rows

// name: products
MATCH (n:Product) WHERE n.retired_at IS NULL
RETURN collect([n.product_id, n.kind, n.name]) AS rows

// name: lenders
MATCH (n:Lender) WHERE n.retired_at IS NULL
RETURN collect([n.lender_id, n.name, n.type]) AS rows

// name: accounts
MATCH (n:Account) WHERE n.retired_at IS NULL
RETURN collect([n.account_id, n.user_id, n.product_id, n.credit_limit, n.outstanding,
  n.status, n.status_reason,
  CASE WHEN n.status_changed_at IS NULL THEN null ELSE
    datetime({datetime: n.status_changed_at, timezone: 'Z'}).epochSeconds * 1000000
    + n.status_changed_at.microsecond END,
  toString(n.opened_at)]) AS rows

// name: devices
MATCH (u:User)-[x:USED]->(d:Device)
RETURN collect([u.user_id, d.device_id,
  CASE WHEN x.first_seen IS NULL THEN null ELSE
    datetime({datetime: x.first_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.first_seen.microsecond END,
  CASE WHEN x.last_seen IS NULL THEN null ELSE
    datetime({datetime: x.last_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.last_seen.microsecond END]) AS rows

// name: identifiers
MATCH (u:User)-[x:HAS_IDENTIFIER]->(i:Identifier)
RETURN collect([u.user_id, i.kind, i.value,
  CASE WHEN x.first_seen IS NULL THEN null ELSE
    datetime({datetime: x.first_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.first_seen.microsecond END,
  CASE WHEN x.last_seen IS NULL THEN null ELSE
    datetime({datetime: x.last_seen, timezone: 'Z'}).epochSeconds * 1000000
    + x.last_seen.microsecond END]) AS rows

// name: external_loans
MATCH (u:User)-[x:BORROWED_FROM]->(l:Lender)
RETURN collect([u.user_id, l.lender_id, toString(x.opened_at), x.amount, x.outstanding,
  x.status, toString(x.closed_at)]) AS rows

// name: applications
MATCH (u:User)-[x:APPLIED_TO]->(l:Lender)
RETURN collect([u.user_id, l.lender_id,
  datetime({datetime: x.applied_at, timezone: 'Z'}).epochSeconds * 1000000
  + x.applied_at.microsecond,
  x.outcome]) AS rows

// name: account_events
MATCH (n:AccountEvent) WHERE n.retired_at IS NULL
RETURN collect([n.account_id,
  datetime({datetime: n.at, timezone: 'Z'}).epochSeconds * 1000000 + n.at.microsecond,
  n.event, n.old_limit, n.new_limit, n.reason]) AS rows
