"""Jobs: asset selections users launch from the UI, schedules and sensors."""

import dagster as dg

from pipelines.defs.ingest.assets import items

ingest_job = dg.define_asset_job("ingest", selection=[items], description="Ingest one benchmark partition into the warehouse.")
