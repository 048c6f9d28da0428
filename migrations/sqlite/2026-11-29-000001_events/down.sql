DROP TABLE event_clock;
DROP TABLE events;
