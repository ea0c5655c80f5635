from mch_reporting.storage import MODELS, SERVICE
from mch_servicekit.migrations import metadata_for, run_env

run_env(SERVICE, metadata_for(MODELS))
