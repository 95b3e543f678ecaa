// The job lock (graph/neo4j/lock.py): one (:XpgLock {name}) node while a load or a writing
// detection runs. Taken with MERGE on its constrained name, in one write transaction: it is
// ours when we made it, or when its holder stopped beating before $stale (a crashed job),
// which we then take over. The holder beats (`beat`) while it runs and deletes it at the end.

// name: take
MERGE (l:XpgLock {name: $name})
ON CREATE SET l.token = $token, l.owner = $owner, l.job = $job, l.since = $now, l.beat = $now
WITH l, l.owner AS was_owner, l.job AS was_job, l.since AS was_since, l.beat AS was_beat,
     l.token AS was_token, l.token <> $token AND l.beat < $stale AS stale
FOREACH (_ IN CASE WHEN stale THEN [1] ELSE [] END |
  SET l.token = $token, l.owner = $owner, l.job = $job, l.since = $now, l.beat = $now)
RETURN l.token = $token AS mine, stale AS took_over, was_owner AS owner, was_job AS job,
       was_since AS since, was_beat AS beat, was_token AS token

// name: steal
// Take over the lock of a holder known to be dead (a process of this host that is gone),
// only if it is still the one we saw ($seen).
MATCH (l:XpgLock {name: $name}) WHERE l.token = $seen
SET l.token = $token, l.owner = $owner, l.job = $job, l.since = $now, l.beat = $now
RETURN count(l) AS taken

// name: beat
MATCH (l:XpgLock {name: $name}) WHERE l.token = $token
SET l.beat = $now
RETURN count(l) AS held

// name: free
MATCH (l:XpgLock {name: $name}) WHERE l.token = $token
DELETE l
