"""The main job behind ``make demo``: the paper venue, S1 and the API, watched live."""
