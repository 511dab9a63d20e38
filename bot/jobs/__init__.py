"""The job engine, free of Discord: the Job model and its state machine, admission (a request becomes a job or a
refusal), who may do what (`access.py`), the fair scheduler, the dispatcher and delivery, and the store
(`store/`); `ports.py` holds the Protocols through which it reaches ComfyUI and shows jobs."""
