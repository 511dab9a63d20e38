"""The job engine: the Job model and its state machine, the queue, the dispatcher."""
