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
    ForeignKeyConstraint,
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

# --- access control and audit -------------------------------------------------

# Users (people, with a password) and service accounts (pipelines, CI, serving;
# tokens only). ``role`` is viewer, editor or admin.
principals = Table(
    "principals",
    metadata,
    Column("principal_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text),
    Column("description", Text, nullable=False, default=""),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# API tokens: only a SHA-256 of the secret is kept; the secret is shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column(
        "principal_id",
        String(32),
        ForeignKey("principals.principal_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(256), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("expires_ms", BigInteger),
    Column("revoked_ms", BigInteger),
    Column("last_used_ms", BigInteger),
    Index("ix_api_tokens_principal_id", "principal_id"),
)

# Per-resource grants: (who, which resource) -> read | edit | manage.
resource_permissions = Table(
    "resource_permissions",
    metadata,
    Column(
        "principal_id",
        String(32),
        ForeignKey("principals.principal_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("resource_kind", String(32), primary_key=True),
    Column("resource_id", String(256), primary_key=True),
    Column("permission", String(16), nullable=False),
    Column("granted_ms", BigInteger, nullable=False),
    Column("granted_by", String(256), nullable=False),
    Index("ix_resource_permissions_resource", "resource_kind", "resource_id"),
)

# The audit trail: append-only, each row carrying the hash of the one before.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=False),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor_id", String(32), nullable=False),
    Column("actor_name", String(256), nullable=False),
    Column("token_id", String(32)),
    Column("action", String(64), nullable=False),
    Column("resource_kind", String(32), nullable=False),
    Column("resource_id", String(256), nullable=False),
    Column("before", Text),
    Column("after", Text),
    Column("request_id", String(64), nullable=False),
    Column("client_addr", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_at_ms", "at_ms"),
    Index("ix_audit_events_resource", "resource_kind", "resource_id"),
    Index("ix_audit_events_action_resource_at", "action", "resource_id", "at_ms"),
)

# The chain's newest (seq, hash), updated with every append: it is the row
# appenders lock, and it makes deleting the newest events detectable.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- datasets -------------------------------------------------------------------

# A named dataset; its versions are immutable snapshots (Parquet in the artifact store).
data_assets = Table(
    "data_assets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    # The attached validation suite (JSON): every new version is validated against it on add.
    Column("suite", Text),
)

data_versions = Table(
    "data_versions",
    metadata,
    Column(
        "name",
        String(128),
        ForeignKey("data_assets.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("content_hash", String(64), nullable=False),
    Column("artifact_path", Text, nullable=False),
    Column("schema", Text, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("source_uri", Text, nullable=False, default=""),
    Column("parents", Text, nullable=False, default="[]"),
    Column("run_id", String(32)),
    Column("description", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    # "passed" / "failed" by the latest validation against the attached suite; NULL: never
    # validated. Metadata about a version, not part of its (immutable) content.
    Column("validation_status", String(16)),
    UniqueConstraint("name", "content_hash"),
)

# Movable names for versions ("prod", "golden"); moved by compare-and-swap on revision.
data_tags = Table(
    "data_tags",
    metadata,
    Column(
        "name",
        String(128),
        ForeignKey("data_assets.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
)

# Sensitivity labels on a dataset's columns ("pii"): tagged columns are masked for
# readers without an explicit grant on the dataset.
data_column_tags = Table(
    "data_column_tags",
    metadata,
    Column(
        "name",
        String(128),
        ForeignKey("data_assets.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("column_name", String(256), primary_key=True),
    Column("tag", String(64), primary_key=True),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
)

# Stored validation reports, one per run of a suite against a version.
data_validations = Table(
    "data_validations",
    metadata,
    Column("validation_id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("suite_name", String(256), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("report", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    ForeignKeyConstraint(
        ["name", "version"],
        ["data_versions.name", "data_versions.version"],
        ondelete="CASCADE",
    ),
    Index("ix_data_validations_name_version", "name", "version"),
)

# --- model registry ---------------------------------------------------------------
# MLflow's registry model: a registered model has numbered versions; tags and
# aliases on both. A rename is one UPDATE: children follow by ON UPDATE CASCADE.
# Versions are soft-deleted (``deleted_ms``) so their numbers are never reused.

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False, default=""),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("current_stage", String(32), nullable=False, default="None"),
    Column("source", Text, nullable=False),
    Column("storage_location", Text, nullable=False),
    Column("run_id", String(32)),
    Column("run_link", Text, nullable=False, default=""),
    Column("model_id", String(64)),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=False, default=""),
    # sha256 of every file under storage_location, taken at registration (JSON),
    # and the digest of that manifest: what every load verifies before deserializing.
    Column("manifest", Text),
    Column("manifest_digest", String(64)),
    # Set by an admin: formats that execute code on load (pickle) may load.
    Column("trusted", Boolean, nullable=False, default=False),
    Column("deleted_ms", BigInteger),
    Index("ix_model_versions_run_id", "run_id"),
)

_VERSION_FK = ("model_versions.name", "model_versions.version")

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False, default=""),
    ForeignKeyConstraint(["name", "version"], _VERSION_FK, ondelete="CASCADE", onupdate="CASCADE"),
)

registered_model_aliases = Table(
    "registered_model_aliases",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("alias", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
    ForeignKeyConstraint(["name", "version"], _VERSION_FK, ondelete="CASCADE", onupdate="CASCADE"),
)

# What moving an alias requires: an approval (by a manager; four eyes: not the
# requester) and release gates (rules over the version's latest evaluation).
alias_policies = Table(
    "alias_policies",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("registered_models.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(256), primary_key=True),
    Column("require_approval", Boolean, nullable=False, default=False),
    Column("four_eyes", Boolean, nullable=False, default=False),
    Column("gates", Text, nullable=False, default="[]"),
    Column("updated_ms", BigInteger, nullable=False),
    Column("updated_by", String(256), nullable=False),
)

model_approvals = Table(
    "model_approvals",
    metadata,
    Column("approval_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("alias", String(256), nullable=False, default=""),
    Column("state", String(16), nullable=False),
    Column("requested_by", String(256), nullable=False),
    Column("requested_ms", BigInteger, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("decided_by", String(256)),
    Column("decided_ms", BigInteger),
    Column("reason", Text, nullable=False, default=""),
    ForeignKeyConstraint(["name", "version"], _VERSION_FK, ondelete="CASCADE", onupdate="CASCADE"),
    Index("ix_model_approvals_name_version", "name", "version"),
)

# An evaluation of a version (the values gates read) and each gate check made on it.
model_evaluations = Table(
    "model_evaluations",
    metadata,
    Column("evaluation_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32)),
    Column("dataset", Text, nullable=False, default=""),
    Column("result", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    ForeignKeyConstraint(["name", "version"], _VERSION_FK, ondelete="CASCADE", onupdate="CASCADE"),
    Index("ix_model_evaluations_name_version", "name", "version"),
)

model_gate_checks = Table(
    "model_gate_checks",
    metadata,
    Column("check_id", String(32), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("alias", String(256), nullable=False),
    Column("evaluation_id", String(32)),
    Column("passed", Boolean, nullable=False),
    Column("results", Text, nullable=False),
    Column("overridden_by", String(256)),
    Column("override_reason", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    ForeignKeyConstraint(["name", "version"], _VERSION_FK, ondelete="CASCADE", onupdate="CASCADE"),
    Index("ix_model_gate_checks_name_version", "name", "version"),
)

# --- serving endpoints ---------------------------------------------------------------
# An endpoint's configuration is versioned: every change (and every rollback) is a
# new row, and ``endpoints.version`` points at the one in force.

endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

endpoint_versions = Table(
    "endpoint_versions",
    metadata,
    Column(
        "name",
        String(128),
        ForeignKey("endpoints.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("config", Text, nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
)

# --- monitoring ------------------------------------------------------------------------
# A monitor binds an endpoint's prediction log to a reference profile, a window
# and a schedule; each run keeps its result (per-column scores and verdicts) so
# scores form a time series.

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("endpoint", String(128), nullable=False),
    Column("reference", Text, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("schedule", String(128)),
    Column("settings", Text, nullable=False, default="{}"),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column(
        "monitor",
        String(128),
        ForeignKey("monitors.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("window_start_ms", BigInteger, nullable=False),
    Column("window_end_ms", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("result", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_monitor_runs_monitor_window", "monitor", "window_end_ms"),
)

# Alert state: per (rule, monitor, subject) what the engine remembers between
# windows, and every alert by id (its whole record as JSON; state is a column so
# firing alerts can be found without reading them all).

alert_tracks = Table(
    "alert_tracks",
    metadata,
    Column("rule", String(128), primary_key=True),
    Column("monitor", String(128), primary_key=True),
    Column("subject", String(512), primary_key=True),
    Column("track", Text, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("monitor", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("alert", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Index("ix_alerts_monitor_state", "monitor", "state"),
)

# --- schedules, pipelines and tuning ---------------------------------------------------
# A claim row is how several server workers agree that exactly one of them runs
# a scheduled thing (a monitor, a pipeline, a policy) for one due time: the
# insert that wins the primary key runs it, the others see the conflict.

schedule_claims = Table(
    "schedule_claims",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("due_ms", BigInteger, primary_key=True),
    Column("claimed_by", String(256), nullable=False),
    Column("claimed_ms", BigInteger, nullable=False),
)

# A pipeline step's cache: its key (code, parameters, input hashes, extra
# inputs) to the artifacts it produced and the step run that produced them.

pipeline_cache = Table(
    "pipeline_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("pipeline", String(256), nullable=False),
    Column("step", String(256), nullable=False),
    Column("outputs", Text, nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# A pipeline's schedule and event triggers: ``target`` is the importable
# ``module:function`` of the pipeline the server's scheduler runs.

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("target", String(512), nullable=False),
    Column("cron", String(128)),
    Column("triggers", Text, nullable=False, default="[]"),
    Column("params", Text, nullable=False, default="{}"),
    Column("settings", Text, nullable=False, default="{}"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# Optuna's journal (its storage as an append-only log) in our database: one
# journal per study namespace, entries numbered from 0 without gaps.

tuning_journal = Table(
    "tuning_journal",
    metadata,
    Column("journal", String(256), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("log", Text, nullable=False),
)

# --- continuous-training policies ----------------------------------------------------
# A policy (its whole specification as JSON) and its runs: each run is a state
# machine persisted row by row (state, what it has learned so far as JSON, and
# a lease so exactly one worker advances it at a time); every transition is
# also kept as an event, the run's history.

policies = Table(
    "policies",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("spec", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

policy_runs = Table(
    "policy_runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("policy", String(128), ForeignKey("policies.name", ondelete="CASCADE"), nullable=False),
    Column("state", String(32), nullable=False),
    Column("trigger", Text, nullable=False),
    Column("data", Text, nullable=False, default="{}"),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("lease_owner", String(256)),
    Column("lease_until_ms", BigInteger),
    Index("ix_policy_runs_policy_state", "policy", "state"),
)

policy_events = Table(
    "policy_events",
    metadata,
    Column("event_id", BigId, primary_key=True, autoincrement=True),
    Column(
        "run_id", String(32), ForeignKey("policy_runs.run_id", ondelete="CASCADE"), nullable=False
    ),
    Column("from_state", String(32)),
    Column("to_state", String(32), nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Index("ix_policy_events_run_id", "run_id"),
)
