"""The library's application suites with the immudb recorder selected through os.environ."""

from __future__ import annotations

import os

from eventsourcing.tests.application import ApplicationTestCase, ExampleApplicationTestCase
from eventsourcing.utils import clear_topic_cache

from tests import immudb_harness
from tests.recorder.support import env_for


class ImmudbEnvironMixin:
    """Point os.environ at a fresh immudb database for each test, then restore it."""

    def setUp(self) -> None:
        self._saved_environ = dict(os.environ)
        os.environ.update(env_for(immudb_harness.fresh_database("a")))
        clear_topic_cache()
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        os.environ.clear()
        os.environ.update(self._saved_environ)
        clear_topic_cache()


class TestApplicationWithImmudb(ImmudbEnvironMixin, ApplicationTestCase):
    pass


class TestExampleApplicationWithImmudb(ImmudbEnvironMixin, ExampleApplicationTestCase):
    expected_factory_topic = "aethyr_immudb_recorder.factory:ImmudbFactory"


del ApplicationTestCase
del ExampleApplicationTestCase
