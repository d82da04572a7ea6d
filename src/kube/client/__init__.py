"""Client machinery: REST client, informers, workqueues, leader election."""
