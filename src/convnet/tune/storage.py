"""Where a study lives: a SQLite file in the study folder, or any SQLAlchemy URL (PostgreSQL)
that several `convnet tune` processes share."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

from convnet.errors import ConfigError

SQLITE_NAME = "study.db"


def default_url(study_dir: Path) -> str:
    return f"sqlite:///{study_dir.resolve() / SQLITE_NAME}"


def redact(url: str) -> str:
    """The URL without its password, for messages and files."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def with_driver(url: str) -> str:
    """postgresql://... with the psycopg2 driver the `tune` extra installs (SQLAlchemy 2.1
    would otherwise look for psycopg 3)."""
    import importlib.util

    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix) and importlib.util.find_spec("psycopg") is None:
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def open_storage(url: str):
    """An optuna RDBStorage on `url`, or ConfigError naming the (redacted) URL."""
    import optuna
    import sqlalchemy.exc

    if "://" not in url:
        raise ConfigError(f"storage {url!r} is not a URL (e.g. postgresql://user@host/db or sqlite:///file.db)")
    given, url = url, with_driver(url)
    kwargs = {}
    if url.startswith("postgresql"):
        kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": 10}}
    if not is_sqlite(url):
        # a worker killed mid-trial stops its heartbeat; another worker then fails that trial
        # and queues its parameters again, so no trial is lost
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # optuna marks these "experimental"
            kwargs.update(heartbeat_interval=20, grace_period=60,
                          heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(2))
    try:
        return _create(url, kwargs)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot open storage {redact(given)}: {first}") from None


def _create(url: str, kwargs: dict, attempts: int = 5):
    """RDBStorage, retried when another worker is creating the same tables at this moment
    (two workers starting on an empty PostgreSQL database race on CREATE TABLE)."""
    import optuna
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
