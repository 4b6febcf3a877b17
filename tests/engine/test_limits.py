"""Rollout limits in virtual time: ``max_per_minute`` pacing, ``max_in_flight`` per profile and engine-wide."""

from __future__ import annotations

from reconciler.engine.settings import EngineSettings
from reconciler.model.files import RolloutPolicy
from reconciler.model.state import Status

from .rig import VIRTUAL, RigFactory


def test_max_per_minute_starts_jobs_at_the_pace_and_never_faster(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 45})
    pace = 30
    interval = 60 / pace
    started_at = rig.clock.now()
    outcome = rig.apply({"fleet": RolloutPolicy(max_per_minute=pace, max_in_flight=1_000)})
    assert outcome.all_accepted
    offsets = [job.created_at - started_at for job in rig.driver.created]
    assert len(offsets) == len(rig.gateways)
    for n, offset in enumerate(offsets):
        # The n-th job starts at the first tick at or after n intervals: about one per interval.
        assert n * interval <= offset < n * interval + rig.settings.poll_interval_s
    for offset in offsets:
        in_a_minute = sum(1 for other in offsets if offset <= other < offset + 60)
        assert in_a_minute <= pace
    assert rig.clock.elapsed >= (len(rig.gateways) - 1) * interval


def test_sixty_per_minute_starts_about_one_per_second(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 12})
    started_at = rig.clock.now()
    rig.apply({"fleet": RolloutPolicy(max_per_minute=60)})
    seconds = [int(job.created_at - started_at) for job in rig.driver.created]
    assert seconds == list(range(len(rig.gateways)))


def test_each_profile_keeps_to_its_own_max_in_flight(make_rig: RigFactory) -> None:
    rig = make_rig({"fleet": 12, "depot": 9}, answer_after=4)
    policies = {"fleet": RolloutPolicy(max_in_flight=3), "depot": RolloutPolicy(max_in_flight=2)}
    outcome = rig.apply(policies)
    assert outcome.all_accepted
    for name, policy in policies.items():
        members = rig.members[name]
        # At the head-end and in the engine's own counts, never above the limit; and the limit binds.
        assert rig.driver.peak_active(members) == policy.max_in_flight
        assert max(tick.get(name, 0) for tick in rig.in_flight) == policy.max_in_flight
    assert rig.statuses() == {Status.ACCEPTED: len(rig.gateways)}


def test_the_engine_wide_max_in_flight_caps_all_profiles_together(make_rig: RigFactory) -> None:
    settings = EngineSettings(**{**VIRTUAL.model_dump(), "max_in_flight": 4})
    rig = make_rig({"fleet": 10, "depot": 10}, answer_after=3, settings=settings)
    outcome = rig.apply({"fleet": RolloutPolicy(max_in_flight=50)})
    assert outcome.all_accepted
    assert rig.driver.peak_active() == settings.max_in_flight
    assert max(sum(tick.values()) for tick in rig.in_flight) <= settings.max_in_flight
    assert len(rig.driver.created) == len(rig.gateways)
