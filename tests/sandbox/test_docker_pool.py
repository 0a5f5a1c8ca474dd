"""The docker runtime's container pool on its own, with stand-in containers (no engine): warm reuse, and
the spare: a fresh container started ahead of need, taken by a call that finds no warm one."""

from __future__ import annotations

import itertools
import threading

import pytest

from toolnexus.sandbox.docker.container import ContainerKey
from toolnexus.sandbox.docker.pool import ContainerPool

KEY = ContainerKey(image="img", memory=1, nano_cpus=1, network=False)
OTHER = ContainerKey(image="img", memory=2, nano_cpus=1, network=False)


class FakeContainer:
    """What the pool uses of a container: its key, id, liveness, last use and destroy."""

    def __init__(self, key: ContainerKey, number: int) -> None:
        self.key = key
        self.id = f"c{number}"
        self.last_used = 0.0
        self.destroyed = False
        self.died = False

    @property
    def alive(self) -> bool:
        return not self.destroyed and not self.died

    def destroy(self) -> None:
        self.destroyed = True


class Factory:
    """Creates stand-in containers; ``gate``, when set, holds every creation until it is opened."""

    def __init__(self) -> None:
        self.made: list[FakeContainer] = []
        self.numbers = itertools.count(1)
        self.gate: threading.Event | None = None
        self.fail = False

    def __call__(self, key: ContainerKey) -> FakeContainer:
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the engine refused")
        container = FakeContainer(key, next(self.numbers))
        self.made.append(container)
        return container


def pool_of(factory: Factory, *, per_key: int = 0, spare: bool = True) -> ContainerPool:
    return ContainerPool(factory, per_key, 6, spare=spare)  # type: ignore[arg-type] - a stand-in container


def test_without_a_spare_nothing_is_started_ahead() -> None:
    factory = Factory()
    pool = pool_of(factory, spare=False)
    first = pool.acquire(KEY)
    assert pool.settle(5) and factory.made == [first]
    pool.release(first, healthy=True)
    assert first.destroyed and pool.ids() == []  # per_key 0: a fresh container per call, none kept


def test_a_call_takes_the_spare_and_another_is_started() -> None:
    factory = Factory()
    pool = pool_of(factory)
    first = pool.acquire(KEY)  # no spare yet: created for the call, then a spare is started
    assert pool.settle(5)
    [spare] = [c for c in factory.made if c is not first]
    pool.release(first, healthy=True)
    assert pool.settle(5)
    assert first.destroyed and pool.ids() == [spare.id]
    second = pool.acquire(KEY)
    assert second is spare  # fresh: created for no call, served none
    assert pool.settle(5)
    assert len(factory.made) == 3 and sorted(pool.ids()) == sorted([spare.id, factory.made[2].id])
    pool.release(second, healthy=True)
    pool.close()
    assert all(c.destroyed for c in factory.made) and pool.ids() == []


def test_warm_containers_come_before_the_spare() -> None:
    factory = Factory()
    pool = pool_of(factory, per_key=1)
    first = pool.acquire(KEY)
    assert pool.settle(5)
    pool.release(first, healthy=True)
    assert pool.acquire(KEY) is first  # the warm one; the spare stays for a call that finds none
    assert len(factory.made) == 2
    pool.close()


def test_spares_are_per_key_and_only_for_keys_in_use() -> None:
    factory = Factory()
    pool = pool_of(factory)
    pool.acquire(KEY)
    assert pool.settle(5)
    assert [c.key for c in factory.made] == [KEY, KEY]
    other = pool.acquire(OTHER)
    assert other.key == OTHER and pool.settle(5)
    assert sum(c.key == OTHER for c in factory.made) == 2
    pool.close()


def test_a_dead_spare_is_replaced_not_handed_out() -> None:
    factory = Factory()
    pool = pool_of(factory)
    pool.acquire(KEY)
    assert pool.settle(5)
    spare = factory.made[1]
    spare.died = True
    taken = pool.acquire(KEY)
    assert taken is not spare and spare.destroyed
    pool.close()


def test_a_spare_that_fails_to_start_leaves_the_next_call_to_start_its_own() -> None:
    factory = Factory()
    pool = pool_of(factory)
    factory.fail = True
    with pytest.raises(RuntimeError, match="refused"):
        pool.acquire(KEY)  # the call's own creation fails: no spare is started after it, nothing is held
    assert pool.settle(5) and pool.ids() == []
    factory.fail = False
    assert pool.acquire(KEY).alive


def test_close_waits_for_a_spare_being_started_and_removes_it() -> None:
    factory = Factory()
    pool = pool_of(factory)
    first = pool.acquire(KEY)
    assert pool.settle(5)
    factory.gate = threading.Event()
    pool.release(first, healthy=True)
    assert pool.settle(5)  # first's removal (it may not wait for the gate: it is no creation)
    busy = pool.acquire(KEY)  # took the spare; a new spare is now held at the gate
    closing = threading.Thread(target=pool.close)
    closing.start()
    assert not pool.settle(0.05)  # the spare is still starting
    factory.gate.set()
    closing.join(10)
    assert not closing.is_alive()
    assert all(c.destroyed for c in factory.made) and len(factory.made) == 3  # the held spare too
    assert pool.ids() == [busy.id]  # the busy one stays counted until its call gives it back
    pool.release(busy, healthy=True)
    assert pool.ids() == []


class SlowToRemove(FakeContainer):
    """A container whose removal waits for ``gate``: the engine's removal takes a while."""

    gate = threading.Event()

    def destroy(self) -> None:
        assert self.gate.wait(10)
        super().destroy()


def test_with_spares_a_used_container_is_removed_off_the_calls_path() -> None:
    numbers = itertools.count(1)
    pool = ContainerPool(lambda key: SlowToRemove(key, next(numbers)), 0, 6, spare=True)  # type: ignore[arg-type, return-value]
    SlowToRemove.gate.clear()
    used = pool.acquire(KEY)
    pool.release(used, healthy=True)  # returns before the removal is done
    assert not used.destroyed and used.id in pool.ids()  # still in view while it is being removed
    assert not pool.settle(0.05)
    SlowToRemove.gate.set()
    assert pool.settle(5)
    assert used.destroyed and used.id not in pool.ids()
    pool.close()


def test_without_spares_a_used_container_is_removed_before_release_returns() -> None:
    factory = Factory()
    pool = pool_of(factory, spare=False)
    used = pool.acquire(KEY)
    pool.release(used, healthy=True)
    assert used.destroyed and pool.ids() == []
