"""The metadata schema, as SQLAlchemy Core tables.

Every domain package reads and writes these through its own ``_sql.py``; the
alembic migrations under ``loopml/store/migrations`` create them. Tracking
tables follow MLflow's model (string run ids, epoch-millisecond times,
experiment ids that are integers on the wire as strings) so the REST API is a
thin translation.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only aliases the rowid for INTEGER PRIMARY KEY, so autoincrementing
# big keys use INTEGER there and BIGINT everywhere else.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _run_fk() -> ForeignKey:
    return ForeignKey("runs.run_uuid", ondelete="CASCADE")


experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(500), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        BigId,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_uuid", String(32), primary_key=True),
    Column(
        "experiment_id",
        BigId,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(250), nullable=False, default=""),
    Column("user_id", String(256), nullable=False, default=""),
    Column("status", String(20), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("deleted_time", BigInteger),
    Column("artifact_uri", Text, nullable=False),
    Index("ix_runs_experiment_id_start_time", "experiment_id", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_uuid", String(32), _run_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_params_key_value", "key", "run_uuid"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_uuid", String(32), _run_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tags_key_run", "key", "run_uuid"),
)

# Every logged point is kept: an append-only table with a surrogate key, so
# duplicate (step, timestamp, value) points from a retrying client are stored
# as the client sent them, and no point is lost to a key collision.
metrics = Table(
    "metrics",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_uuid", String(32), _run_fk(), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False, default=0),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
    Index("ix_metrics_run_key_step", "run_uuid", "key", "step", "timestamp"),
)

# The newest point of each metric of each run (highest step, then timestamp,
# then value, as MLflow defines it), kept in step with ``metrics`` so that run
# search can filter and sort on metrics without scanning history.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_uuid", String(32), _run_fk(), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_uuid", String(32), primary_key=True),
    Column(
        "experiment_id",
        BigId,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(500), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source_type", String(36), nullable=False),
    Column("source", Text, nullable=False),
    Column("schema", Text),
    Column("profile", Text),
    UniqueConstraint("experiment_id", "name", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("input_uuid", String(32), primary_key=True),
    Column(
        "dataset_uuid",
        String(32),
        ForeignKey("datasets.dataset_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("run_uuid", String(32), _run_fk(), nullable=False),
    UniqueConstraint("dataset_uuid", "run_uuid"),
)

run_input_tags = Table(
    "run_input_tags",
    metadata,
    Column(
        "input_uuid",
        String(32),
        ForeignKey("run_inputs.input_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

# MLflow 3 "logged models": a model logged by a run (or on its own), with its
# own artifact location, params, tags and metrics.
logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column(
        "experiment_id",
        BigId,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_message", Text),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("model_type", String(500)),
    Column("source_run_id", String(32)),
    Index("ix_logged_models_source_run_id", "source_run_id"),
)


def _model_fk() -> ForeignKey:
    return ForeignKey("logged_models.model_id", ondelete="CASCADE")


logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", String(64), _model_fk(), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", String(64), _model_fk(), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_metrics = Table(
    "logged_model_metrics",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("model_id", String(64), _model_fk(), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("run_id", String(32)),
    Column("dataset_name", String(500)),
    Column("dataset_digest", String(64)),
    Index("ix_logged_model_metrics_model_id_key", "model_id", "key"),
)

# Models a run produced (``log_outputs``), with the step at which it did.
run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_uuid", String(32), _run_fk(), primary_key=True),
    Column("model_id", String(64), _model_fk(), primary_key=True),
    Column("step", BigInteger, nullable=False, default=0),
)

# Responses remembered per Idempotency-Key so a retried POST is answered, not redone.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
