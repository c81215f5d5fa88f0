"""The OpenTracing API's own compatibility harness (opentracing.harness), all 33 checks."""

import contextvars
import unittest

from opentracing.harness.api_check import APICompatibilityCheckMixin
from opentracing.harness.scope_check import ScopeCompatibilityCheckMixin

from otel_lite.shims.opentracing import create_tracer
from tests.shims.conftest import make_recorder


class _Isolated(unittest.TestCase):
    """Each check runs in its own copy of the context (some leave a scope active on purpose)."""

    def setUp(self):
        self._recorder = make_recorder()
        self.addCleanup(self._recorder.shutdown)

    def run(self, result=None):
        return contextvars.copy_context().run(super().run, result)


class TestAPICompatibility(_Isolated, APICompatibilityCheckMixin):
    def tracer(self):
        return create_tracer(self._recorder.provider)

    def is_parent(self, parent, span):
        otel_parent = span.unwrap().parent
        if parent is None:
            return otel_parent is None
        return otel_parent is not None and otel_parent.span_id == parent.unwrap().get_span_context().span_id


class TestScopeCompatibility(_Isolated, ScopeCompatibilityCheckMixin):
    def scope_manager(self):
        return create_tracer(self._recorder.provider).scope_manager

    def run_test(self, test_fn):
        contextvars.copy_context().run(test_fn)
