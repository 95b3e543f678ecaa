"""The :class:`Builder` of the synthetic generator: random source, allocators, rows so far.

It also generates the *ordinary* behaviour of users: accounts and their
events, own devices and identifiers; external loans and applications come
from :mod:`xpg.synthetic.credit`. Ordinary behaviour stays strictly below
every detection threshold of the data contract, so that only planted cases
(:mod:`xpg.synthetic.kinds`) produce findings.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np

from xpg.synthetic.catalogue import BY, DAY, HB, IDENTIFIER_KINDS, JB, LAST, NULL_TIME, SECOND, code
from xpg.synthetic.formats import expand

__all__ = ["Builder"]

# ---------------------------------------------------------------------------- the builder

_COLUMNS: dict[str, dict[str, object]] = {
    # internal table -> column -> fill value when a part leaves it out
    "accounts": {"acct": None, "user": None, "product": None, "limit": None, "outstanding": None,
                 "status": None, "reason": -1, "changed": NULL_TIME, "opened": None},
    "account_events": {"acct": None, "at": None, "event": None, "old": np.nan, "new": np.nan,
                       "reason": -1},
    "devices": {"user": None, "device": None, "first": None, "last": None},
    "identifiers": {"user": None, "kind": None, "key": None, "first": None, "last": None},
    "external_loans": {"user": None, "lender": None, "opened": None, "amount": None,
                       "outstanding": None, "status": None, "closed": NULL_TIME},
    "applications": {"user": None, "lender": None, "at": None, "outcome": -1},
}  # fmt: skip


class Builder:
    """Random source, run date, allocators and the rows planted so far.

    Users are handed out in a random order (:meth:`take_users`), so planted
    cases are spread over the id space; whatever is left at the end is
    ordinary background.
    """

    def __init__(self, n_users: int, seed: int, as_of: dt.date):
        self.n = n_users
        self.seed = seed
        self.as_of = as_of
        self.rng = np.random.default_rng(seed)
        self.today = int((as_of - dt.date(1970, 1, 1)).days)  # run date in days
        self.t0 = self.today * DAY  # run date 00:00:00 in microseconds
        self._order = self.rng.permutation(n_users)
        self._next_user = 0
        self._next = {"device": 0, "account": 0}
        self._keys: dict[str, int] = {}
        self.parts: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)
        self.profile = np.zeros(n_users, dtype=np.int8)
        self.custom_accounts = np.zeros(n_users, dtype=bool)
        self.cases: list[dict] = []
        self.screening: list[dict] = []  # applicants to screen and their verdicts (truth)
        self.case_counts: dict[str, int] = defaultdict(int)
        # registration moment of every user: 30 days to 8 years before the run date
        self.registered = self.seconds(
            self.t0 - 8 * 365 * DAY + self.rng.random(n_users) * (8 * 365 - 30) * DAY
        )
        # first key of the planted-only ranges of the identifier kinds shared by ordinary users
        self.ip_pool = max(n_users // 4, 1)
        self.address_pool = n_users
        # phones and bank cards beyond every user's own (phone key = user, cards 2u and 2u + 1)
        self._keys = {"ip": self.ip_pool, "address": self.address_pool, "email": n_users,
                      "phone": n_users, "bank_card": 2 * n_users}  # fmt: skip

    # -- allocation
    def take_users(self, count: int) -> np.ndarray:
        if self._next_user + count > self.n:
            raise OverflowError("not enough users for the planted cases")
        out = self._order[self._next_user : self._next_user + count]
        self._next_user += count
        return out

    @property
    def users_taken(self) -> int:
        return self._next_user

    def taken_since(self, start: int) -> np.ndarray:
        """The users handed out since :attr:`users_taken` was ``start``."""
        return self._order[start : self._next_user]

    def new(self, what: str, count: int) -> np.ndarray:
        start = self._next[what]
        self._next[what] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    def new_keys(self, kind: str, count: int) -> np.ndarray:
        """Identifier keys of ``kind`` never given to ordinary users."""
        start = self._keys[kind]
        self._keys[kind] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    # -- time, in microseconds since the epoch (datetimes) or days (dates)
    @staticmethod
    def seconds(us: np.ndarray | float) -> np.ndarray:
        return (np.asarray(us, dtype=np.float64) // SECOND).astype(np.int64) * SECOND

    def at(self, days_back, second=None, size: int | None = None) -> np.ndarray:
        """A moment ``days_back`` days before the run date, at ``second`` of the day or random."""
        days_back = np.asarray(days_back, dtype=np.int64)
        n = size if size is not None else days_back.size
        if second is None:
            second = self.rng.integers(0, 86_400, n)
        return self.t0 - days_back * DAY + np.asarray(second, dtype=np.int64) * SECOND

    def between(self, lo: np.ndarray, hi: np.ndarray | int) -> np.ndarray:
        """A random whole second in ``[lo, hi]`` (microseconds)."""
        lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=np.int64), np.asarray(hi, np.int64))
        span = np.maximum(hi - lo, 0)
        return self.seconds(lo + self.rng.random(lo.shape) * span)

    @property
    def now(self) -> int:
        """The last second of the run date."""
        return self.t0 + LAST * SECOND

    # -- rows
    def add(self, table: str, **columns) -> None:
        """Append rows to an internal table; scalars broadcast, left-out columns get their fill."""
        spec = _COLUMNS[table]
        unknown = set(columns) - set(spec)
        if unknown:  # pragma: no cover - a programming error
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        n = max(np.size(v) for v in columns.values() if np.ndim(v) > 0)
        part = {}
        for name, fill in spec.items():
            value = columns.get(name, fill)
            if value is None:  # pragma: no cover - a programming error
                raise KeyError(f"{table}: column {name} is required")
            part[name] = np.broadcast_to(np.asarray(value), (n,))
        self.parts[table].append(part)

    def table(self, name: str) -> dict[str, np.ndarray]:
        parts = self.parts[name]
        if not parts:
            return {c: np.empty(0) for c in _COLUMNS[name]}
        return {c: np.concatenate([p[c] for p in parts]) for c in _COLUMNS[name]}

    # -- amounts
    def limits(self, product: int, n: int) -> np.ndarray:
        """Realistic credit limits (CNY) of one product, rounded to 100."""
        r = self.rng
        if product == HB:
            x = np.exp(r.normal(np.log(4_000), 0.8, n)).clip(500, 50_000)
        elif product == JB:
            x = np.exp(r.normal(np.log(15_000), 0.9, n)).clip(1_000, 200_000)
        else:
            x = r.choice(np.array([500.0, 1_000, 1_500, 2_000, 3_000, 5_000]), n)
        return np.round(x / 100) * 100

    def partial(self, limit: np.ndarray) -> np.ndarray:
        """An outstanding balance strictly below ``limit`` (so something is drawable)."""
        return np.round(limit * self.rng.uniform(0.05, 0.85, np.shape(limit)), 2)

    def loan_amounts(self, n: int) -> np.ndarray:
        return np.round(np.exp(self.rng.normal(np.log(20_000), 1.0, n)).clip(1_000, 200_000), -2)

    # -- ordinary behaviour of users that cases may reuse
    def own_devices(self, users: np.ndarray) -> None:
        """1-3 devices per user that nobody else uses."""
        r = self.rng
        counts = r.choice(np.array([1, 2, 3]), users.size, p=[0.7, 0.25, 0.05])
        owner, _ = expand(counts)
        u = users[owner]
        first = self.between(self.registered[u], self.now)
        last = self.between(first, self.now)
        self.add("devices", user=u, device=self.new("device", u.size), first=first, last=last)

    def shared_device(self, users: np.ndarray, device: np.ndarray, days: int = 365) -> None:
        """Rows linking ``users[i]`` to ``device[i]``, first seen within ``days`` days."""
        first = self.between(np.maximum(self.registered[users], self.t0 - days * DAY), self.now)
        self.add("devices", user=users, device=device, first=first,
                 last=self.between(first, self.now))  # fmt: skip

    def identifier(self, users: np.ndarray, kind: str, key: np.ndarray, days: int = 720) -> None:
        first = self.between(np.maximum(self.registered[users], self.t0 - days * DAY), self.now)
        self.add("identifiers", user=users, kind=code(IDENTIFIER_KINDS, kind), key=key,
                 first=first, last=self.between(first, self.now))  # fmt: skip

    def own_identifiers(self, users: np.ndarray) -> None:
        """Every user's own phone, ID number and bank card(s); some emails; pooled IPs/addresses."""
        r = self.rng
        n = users.size
        self.identifier(users, "phone", users, days=3000)
        self.identifier(users, "id_number", users, days=3000)
        self.identifier(users, "bank_card", 2 * users, days=3000)
        second = users[r.random(n) < 0.1]
        self.identifier(second, "bank_card", 2 * second + 1)
        mail = users[r.random(n) < 0.2]
        self.identifier(mail, "email", mail)
        # IPs and addresses are shared by households, dormitories and carriers: not enabled
        # by default; ordinary users draw them from pools (keys below the planted ranges).
        ip_users = users[r.random(n) < 0.5]
        self.identifier(ip_users, "ip", r.integers(0, self.ip_pool, ip_users.size), days=90)
        addr = users[r.random(n) < 0.3]
        self.identifier(addr, "address", r.integers(0, self.address_pool, addr.size))

    def ordinary_accounts(self, users: np.ndarray) -> None:
        """Accounts in the three products with consistent events, never a finding.

        Frozen, closed and limited accounts carry product-scope reasons only; limit cuts
        stay under 50% and above 50 CNY; past freezes are product-scope and were lifted.
        """
        r = self.rng
        n = users.size
        has = np.stack([r.random(n) < 0.85, r.random(n) < 0.5, r.random(n) < 0.1])
        has[HB] |= ~has.any(axis=0)
        for product in (HB, JB, BY):
            u = users[has[product]]
            m = u.size
            acct = self.new("account", m)
            limit = self.limits(product, m)
            opened_us = self.between(self.registered[u], self.t0 - 7 * DAY)
            status = r.choice(4, m, p=[0.92, 0.035, 0.025, 0.02]).astype(np.int8)
            outstanding = np.where(status == 3, 0.0, self.partial(limit))
            reason = np.full(m, -1, dtype=np.int16)
            reason[status == 1] = r.choice([4, 5], (status == 1).sum())  # limited
            reason[status == 2] = r.choice([4, 5, 6, 7], (status == 2).sum())  # frozen
            reason[status == 3] = r.choice([6, 6, 6, 5], (status == 3).sum())  # closed
            changed = np.full(m, NULL_TIME, dtype=np.int64)
            inactive = status > 0
            changed[inactive] = self.between(opened_us[inactive] + DAY, self.now)
            # the event behind a non-active status: limited -> limit, frozen -> freeze, ...
            ev = np.array([-1, 3, 1, 4], dtype=np.int8)[status]  # EVENT_KINDS codes
            self.add("account_events", acct=acct[inactive], at=changed[inactive],
                     event=ev[inactive], reason=reason[inactive])  # fmt: skip
            # a past product-scope freeze, lifted since
            lifted = (status == 0) & (r.random(m) < 0.04)
            t_freeze = self.between(opened_us[lifted] + DAY, self.now - 30 * DAY)
            t_unfreeze = self.between(t_freeze + DAY, self.now)
            self.add(
                "account_events",
                acct=acct[lifted],
                at=t_freeze,
                event=1,
                reason=r.choice([4, 5, 7], lifted.sum()).astype(np.int16),
            )
            self.add("account_events", acct=acct[lifted], at=t_unfreeze, event=2, reason=9)
            changed[lifted] = t_unfreeze
            # limit changes: a raise, or a mild cut (< 50%, never to 50 or less)
            changes = (status != 3) & (r.random(m) < 0.3)
            k = changes.sum()
            cur = limit[changes]
            raise_ = r.random(k) < 0.7
            old_raise = np.maximum(np.floor(cur * r.uniform(0.4, 0.9, k) / 100) * 100, 100)
            old_raise = np.where(old_raise >= cur, cur / 2, old_raise)
            old_cut = np.ceil(cur / r.uniform(0.6, 0.9, k) / 100) * 100
            old = np.where(raise_, old_raise, old_cut)
            t_change = self.between(opened_us[changes] + DAY, self.now)
            self.add(
                "account_events",
                acct=acct[changes],
                at=t_change,
                event=0,
                old=old,
                new=cur,
                reason=np.where(raise_, 13, 11).astype(np.int16),
            )
            self.add("accounts", acct=acct, user=u, product=product, limit=limit,
                     outstanding=outstanding, status=status, reason=reason, changed=changed,
                     opened=opened_us // DAY)  # fmt: skip
