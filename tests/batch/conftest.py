"""One local Spark session per test process for the batch tests (a JVM start costs seconds): made by
the product's :func:`arrears.batch.spark.spark_session`, so its Python workers run this interpreter
(with pyarrow and arrears), and stopped once, at the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from arrears.batch.spark import spark_session

    session = spark_session("local[2]", app_name="arrears-tests", shuffle_partitions=4,
                            conf={"spark.ui.enabled": "false", "spark.default.parallelism": "2"})
    yield session
    session.stop()
