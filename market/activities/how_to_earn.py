"""How to earn: what earns what in a community, for anyone signed in to it.

The earning categories still offered with their rates (``market.points.categories``), the
policy's caps, its expiry and 公示 rules in words, and the upcoming activities of each category
that the reader may check in to, chosen by the activities' own audience rule
(``service.open_to_me``); activities whose category is not in the catalogue (built-in kinds,
archived names) are listed apart.
"""

from ledger import format_points
from market import clock
from market.activities import service
from market.activities.schemas import ActivityView, CategoryToEarn, HowToEarn, UpcomingActivity
from market.auth.sessions import Principal
from market.messages import Language
from market.points import categories, policy

#: How many upcoming activities the answer lists per category.
UPCOMING_PER_CATEGORY = 10


def _upcoming(activity: ActivityView) -> UpcomingActivity:
    return UpcomingActivity(
        id=activity.id, title=activity.title, category=activity.category, location=activity.location,
        starts_at=activity.starts_at, ends_at=activity.ends_at,
        points_per_checkin=activity.points_per_checkin, points_per_hour=activity.points_per_hour,
    )


async def how_to_earn(me: Principal, language: Language) -> HowToEarn:
    """What earns what in ``me``'s community, under its policy, and what is coming up for them."""
    rules = await policy.rules(me.community_id)
    offered_now = await categories.list_categories(me.community_id, archived=False)
    by_category: dict[str, list[UpcomingActivity]] = {c.name: [] for c in offered_now}
    others: list[UpcomingActivity] = []
    for activity in await service.open_to_me(me, clock.now()):
        listed = by_category.get(activity.category, others)
        if len(listed) < UPCOMING_PER_CATEGORY:
            listed.append(_upcoming(activity))
    shown = policy.view(rules, [])

    def cap(value: int | None) -> str | None:
        return None if value is None else format_points(value)

    return HowToEarn(
        categories=[
            CategoryToEarn(id=c.id, name=c.name, description=c.description,
                           points_per_checkin=c.points_per_checkin, points_per_hour=c.points_per_hour,
                           activities=by_category[c.name])
            for c in offered_now
        ],
        other_activities=others, cap_per_day=cap(rules.cap_per_day),
        cap_per_month=cap(rules.cap_per_month), expiry=shown.expiry,
        expiry_rule=categories.expiry_rule(rules, language), publicity_days=rules.publicity_days,
        publicity_rule=categories.publicity_rule(rules, language),
    )
