"""The vSphere API (VI API): its SOAP encoding (``soap``) and a client for ESX hosts and vCenter (``client``)."""
