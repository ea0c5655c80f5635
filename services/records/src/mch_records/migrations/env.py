from mch_records.storage import MODELS
from mch_servicekit.migrations import metadata_for, run_env

run_env(metadata_for(MODELS))
