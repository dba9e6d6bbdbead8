"""The Flask web app: admin UI, agent portal, REST API and the FreeSWITCH xml_curl endpoint."""
