"""The Deployment controller (upstream's pkg/controller/deployment), split as upstream splits it:

controller.py   informers, handlers, the sync dispatch (paused, scaling event, strategy)
sync.py         new/old ReplicaSets, revisions, scaling, cleanup, status
rolling.py      the RollingUpdate strategy          recreate.py   the Recreate strategy
progress.py     the Progressing condition, deadlines, requeue of stuck rollouts
conditions.py   conditions and rollout predicates   util.py       pure arithmetic and annotations
"""
