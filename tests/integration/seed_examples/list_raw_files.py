import requests

api_key = 'some-fake-api-key-that-does-not-work'

# define request headers
headers = {'Authorization': f"Token {api_key}",
           'Content-Type': 'application/json'}

#define parameters
# 0: Raw files
# 1: Calibration Files (Master flats or bias)
# 2: Reduced files
# 3: Extracted 1D spectrum
# 4: Wavelength calibrated
# 5: Flux Calibrated
parameters = {"data_type": "0"}

# remotehost should be replaced with the actual host
# also the url can be composed as http://remotehost/api/files/?data_type=0
# in that case you don't need to pass the params argument.
response = requests.get(
         url='http://remotehost/api/files/',
         params=parameters,
         headers=headers)

if response.status_code == 200:
    json_response = response.json()

# alternatively you can use response.raise_for_status() and catch any exception

from request.exceptions import HTTPError

try:
    response.raise_for_status()
except HTTPError as http_error:
    log.exception(http_error)
