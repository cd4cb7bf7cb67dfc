"""The bridge's nightly catalogue run (`nightly:` of its config): when it is due (`when.py`), the
thread that starts it (`worker.py`), one night's run with the bridge's executor and its reports
(`run.py`), and each recipe as one Drone build under the Drone executor (`drone.py`)."""
