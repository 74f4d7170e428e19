import requests

api_key = 'some-fake-api-key-that-does-not-work'

# define request headers
headers = {'Authorization': f"Token {api_key}",
           'Content-Type': 'application/json'}

#define payload
payload = {
    "email": "user@server.net",
    "action": "add"
    }


# remotehost should be replaced with the actual host
response = requests.get(
         url='http://remotehost/api/proposals/collaborators/5/',
         data=payload,
         headers=headers)

if response.status_code == 200:
    json_response = response.json()
