"""Every answer of the town's day, per operation, and the faults among them: 5xx, requests left
without an answer, answers the rules do not allow. ``bench.town_day`` records; ``bench.town_load``
reports."""

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int  # 0: no answer (connection dropped or timed out)
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def reason(self) -> str:
        """The problem's ``reason``, or what went wrong when there was no answer."""
        if self.status == 0:
            return self.body.decode("utf-8", "replace")
        if self.status < 300:
            return ""
        try:
            return str(json.loads(self.body).get("reason", ""))
        except (ValueError, AttributeError):
            return ""

    @property
    def clear(self) -> bool:
        """Whether what the request did is known: any answer below 500."""
        return 0 < self.status < 500


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)  # "409 out_of_stock" for every non-2xx
    latencies: list[float] = field(default_factory=list)


@dataclass
class Fault:
    op: str
    status: int
    reason: str
    what: str
    body: str


class Recorder:
    """Every answer, per operation; the faults (5xx, no answer, unexpected answers) with samples."""

    def __init__(self) -> None:
        self.tallies: defaultdict[str, Tally] = defaultdict(Tally)
        self.server_errors: list[Fault] = []
        self.no_answers: list[Fault] = []
        self.unexpected: list[Fault] = []

    def record(self, op: str, answer: Answer, seconds: float) -> None:
        tally = self.tallies[op]
        tally.statuses[answer.status] += 1
        tally.latencies.append(seconds)
        if not 200 <= answer.status < 300:
            tally.reasons[f"{answer.status} {answer.reason}".strip()] += 1
        body = answer.body[:400].decode("utf-8", "replace")
        if answer.status >= 500:
            self.server_errors.append(Fault(op, answer.status, answer.reason, "server error", body))
        elif answer.status == 0:
            self.no_answers.append(Fault(op, 0, answer.reason, "no answer", body))

    def wrong(self, op: str, answer: Answer, what: str) -> None:
        self.unexpected.append(Fault(op, answer.status, answer.reason, what,
                                     answer.body[:400].decode("utf-8", "replace")))

    def faults_of(self, other: "Recorder") -> None:
        """Take the faults of another recorder (a phase counted apart) as this one's."""
        self.server_errors += other.server_errors
        self.no_answers += other.no_answers
        self.unexpected += other.unexpected
