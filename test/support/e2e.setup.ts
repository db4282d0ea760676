// End-to-end tests start real servers, apps and SDK clients: give them room.
jest.setTimeout(60_000);
