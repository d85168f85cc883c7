extends Control
## The voipchat demo: fill in the form, press Join in two copies of the game, and talk.
##
## Signing happens here only to keep the demo self-contained. In a real game the app secret
## lives on your backend, which hands the client openId, nonceStr, timeStamp and signature.

const APP_ID := "wxdemo"
const SPEAKING_COLOR := Color(0.3, 0.85, 0.4)

var members: PackedStringArray = []
var speakers: PackedStringArray = []

@onready var voip: VoipChat = $VoipChat
@onready var server_edit: LineEdit = $Layout/Form/Server
@onready var cert_edit: LineEdit = $Layout/Form/Cert
@onready var open_id_edit: LineEdit = $Layout/Form/OpenId
@onready var room_edit: LineEdit = $Layout/Form/Room
@onready var secret_edit: LineEdit = $Layout/Form/Secret
@onready var join_button: Button = $Layout/Buttons/Join
@onready var leave_button: Button = $Layout/Buttons/Leave
@onready var mute_box: CheckBox = $Layout/Buttons/MuteMic
@onready var members_list: ItemList = $Layout/Members
@onready var status_label: Label = $Layout/Status


func _ready() -> void:
	join_button.pressed.connect(_on_join_pressed)
	leave_button.pressed.connect(_on_leave_pressed)
	mute_box.toggled.connect(_on_mute_toggled)
	voip.members_changed.connect(_on_members_changed)
	voip.speakers_changed.connect(_on_speakers_changed)
	voip.interrupted.connect(_on_interrupted)
	voip.state_changed.connect(_on_state_changed)


func _on_join_pressed() -> void:
	join_button.disabled = true
	status_label.text = "Joining..."
	var options := _dev_sign(secret_edit.text, open_id_edit.text, room_edit.text)
	options["server"] = server_edit.text
	options["serverCertSha256"] = cert_edit.text
	options["roomType"] = "voice"
	options["muteConfig"] = {"muteMicrophone": mute_box.button_pressed, "muteEarphone": false}
	voip.join(options)
	var result: Dictionary = await voip.join_completed
	if result["errCode"] == 0:
		status_label.text = "In room %s." % room_edit.text
		leave_button.disabled = false
		_show_members(result["openIdList"])
	else:
		status_label.text = "Join failed: %d %s" % [result["errCode"], result["errMsg"]]
		join_button.disabled = false


func _on_leave_pressed() -> void:
	leave_button.disabled = true
	voip.exit()
	var result: Dictionary = await voip.exit_completed
	status_label.text = "Left: %s" % result["errMsg"]
	join_button.disabled = false
	_show_members(PackedStringArray())


func _on_mute_toggled(muted: bool) -> void:
	if voip.is_in_call():
		voip.update_mute_config({"muteConfig": {"muteMicrophone": muted, "muteEarphone": false}})


func _on_members_changed(open_id_list: PackedStringArray) -> void:
	_show_members(open_id_list)


func _on_speakers_changed(open_id_list: PackedStringArray) -> void:
	speakers = open_id_list
	_show_members(members)


func _on_interrupted(err_code: int, err_msg: String) -> void:
	status_label.text = "Call lost: %d %s" % [err_code, err_msg]
	leave_button.disabled = true
	join_button.disabled = false
	_show_members(PackedStringArray())


func _on_state_changed(code: int, data: Dictionary) -> void:
	if code == VoipChat.STATE_RECONNECTING:
		status_label.text = "Reconnecting..."
	elif code == VoipChat.STATE_JOINED and status_label.text == "Reconnecting...":
		status_label.text = "In room %s." % room_edit.text
	print("voipchat state %d: %s" % [code, data])


## One row per member; the ones speaking now are marked and coloured.
func _show_members(open_id_list: PackedStringArray) -> void:
	members = open_id_list
	members_list.clear()
	for open_id: String in members:
		var speaking := speakers.has(open_id)
		var label: String = open_id
		if open_id == open_id_edit.text:
			label += " (you)"
		if speaking:
			label += "  - speaking"
		var row := members_list.add_item(label)
		if speaking:
			members_list.set_item_custom_fg_color(row, SPEAKING_COLOR)


## Development only: signs a join the way a game backend does (see the README).
func _dev_sign(app_secret: String, open_id: String, group_id: String) -> Dictionary:
	var session_key := Marshalls.raw_to_base64(
		_hmac_sha256(app_secret.to_utf8_buffer(), open_id.to_utf8_buffer())
	)
	var nonce_str := "%08x%08x" % [randi(), randi()]
	var time_stamp := int(Time.get_unix_time_from_system())
	var parts := PackedStringArray([APP_ID, group_id, nonce_str, str(time_stamp)])
	parts.sort()
	var signature := _hmac_sha256(
		session_key.to_utf8_buffer(), "".join(parts).to_utf8_buffer()
	).hex_encode()
	return {
		"appId": APP_ID,
		"openId": open_id,
		"groupId": group_id,
		"nonceStr": nonce_str,
		"timeStamp": time_stamp,
		"signature": signature,
	}


func _hmac_sha256(key: PackedByteArray, message: PackedByteArray) -> PackedByteArray:
	var hmac := HMACContext.new()
	hmac.start(HashingContext.HASH_SHA256, key)
	hmac.update(message)
	return hmac.finish()
