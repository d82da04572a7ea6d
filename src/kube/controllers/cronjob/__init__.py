"""The CronJob controller (upstream's pkg/controller/cronjob, the v2 controller).

`controller` creates Jobs on schedule and keeps the history; `schedule` turns
`spec.schedule` and `spec.timeZone` into the times a Job is due.
"""
