"""The service's web page (``GET /``): the runs table, a run's page with its learning curve
and log, the submit form and the comparison of runs, live from the API's event streams;
server-rendered HTML and one plain script (``templates/``, ``static/``), no build step and no
asset from elsewhere. Behind the API key, with a login that gives the browser a session
cookie (``services.web.auth``)."""
